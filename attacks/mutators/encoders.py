"""The encoders: small pure ``str -> str`` functions, registered by name on import.

Value-stage encoders rewrite the payload for the sink and keep its meaning there (SQL keyword
case, shell ``${IFS}``, prompt obfuscation). Wire-stage encoders rewrite how the value
travels and are undone by the HTTP layer or the body parser (percent-encoding, JSON
``\\uXXXX`` escapes, YAML tag spellings). See :mod:`rampart.attacks.mutators.registry`.
"""

from __future__ import annotations

import base64
import codecs
import json
import keyword
import re
from collections.abc import Callable
from typing import Any

from rampart.attacks.mutators.registry import register

__all__ = ["dump_json"]

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

# ---------------------------------------------------------------- helpers


def _alternate(word: str) -> str:
    """``select`` -> ``SeLeCt``: upper on even letters, lower on odd ones."""
    out: list[str] = []
    upper = True
    for ch in word:
        if ch.isalpha():
            out.append(ch.upper() if upper else ch.lower())
            upper = not upper
        else:
            out.append(ch)
    return "".join(out)


def _pct(text: str, keep: Callable[[str], bool]) -> str:
    return "".join(ch if keep(ch) else "".join(_HEX[b] for b in ch.encode("utf-8")) for ch in text)


_HEX = tuple(f"%{b:02X}" for b in range(256))


def _json_string(text: str, escape: Callable[[str], bool] | None) -> str:
    if escape is None:
        return json.dumps(text, ensure_ascii=False)
    out: list[str] = ['"']
    for ch in text:
        if escape(ch) or ch in '"\\' or ord(ch) < 0x20:
            for unit in _utf16_units(ch):
                out.append(f"\\u{unit:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _utf16_units(ch: str) -> list[int]:
    raw = ch.encode("utf-16-be")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def dump_json(value: Any, escape: Callable[[str], bool] | None = None, *, indent: str = "") -> str:
    """Serialise ``value`` as JSON, writing every character ``escape`` selects as ``\\uXXXX``.

    ``indent`` non-empty gives a pretty layout; the text always decodes to ``value``.
    """
    nl = "\n" if indent else ""
    sep = ": " if indent else ":"

    def walk(v: Any, depth: int) -> str:
        pad = indent * (depth + 1)
        end = indent * depth
        if isinstance(v, str):
            return _json_string(v, escape)
        if isinstance(v, dict):
            if not v:
                return "{}"
            items = [f"{pad}{_json_string(str(k), escape)}{sep}{walk(x, depth + 1)}" for k, x in v.items()]
            return "{" + nl + ("," + nl).join(items) + nl + end + "}"
        if isinstance(v, list):
            if not v:
                return "[]"
            items = [f"{pad}{walk(x, depth + 1)}" for x in v]
            return "[" + nl + ("," + nl).join(items) + nl + end + "]"
        return json.dumps(v)

    if escape is None and not indent:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return walk(value, 0)


def _rewrite_json(text: str, escape: Callable[[str], bool] | None, indent: str = "") -> str:
    return dump_json(json.loads(text), escape, indent=indent)


# ---------------------------------------------------------------- wire: query


@register("url", stage="wire", wires=("query",))
def url(text: str) -> str:
    """Percent-encode every character but letters and digits (``../`` -> ``%2E%2E%2F``)."""
    return _pct(text, _ALNUM.__contains__)


@register("url_all", stage="wire", wires=("query",))
def url_all(text: str) -> str:
    """Percent-encode every character, letters included (``id`` -> ``%69%64``)."""
    return "".join(_HEX[b] for b in text.encode("utf-8"))


@register("url_plus", stage="wire", wires=("query",))
def url_plus(text: str) -> str:
    """Form-style encoding: spaces as ``+``, structural characters percent-encoded."""
    return _pct(text, lambda ch: ch in _ALNUM or ch in "-._~!$'()*,/:;@ ").replace(" ", "+")


@register("double_url", stage="wire", wires=("query",), breaks=True)
def double_url(text: str) -> str:
    """Percent-encode twice (``'`` -> ``%2527``); works only where the app decodes twice."""
    return url(url(text))


@register("unicode_u", stage="wire", wires=("query",), breaks=True)
def unicode_u(text: str) -> str:
    """IIS-style ``%uXXXX`` escapes for every non-alphanumeric character."""
    return "".join(ch if ch in _ALNUM else "".join(f"%u{u:04X}" for u in _utf16_units(ch)) for ch in text)


@register("url_path_chars", stage="wire", wires=("query",), classes=("path_traversal",))
def url_path_chars(text: str) -> str:
    """Lower-case escapes for the path characters (``../`` -> ``%2e%2e%2f``); other characters
    stay readable unless the query structure needs them escaped."""
    table = {".": "%2e", "/": "%2f", "\\": "%5c"}
    return "".join(table.get(ch) or _pct(ch, lambda c: c in _ALNUM or c in "-_~!$'()*,:;@") for ch in text)


@register("overlong_utf8", stage="wire", wires=("query",), classes=("path_traversal",), breaks=True)
def overlong_utf8(text: str) -> str:
    """Overlong UTF-8 for ``/``, ``.`` and ``\\`` (``%C0%AF``): rejected by strict decoders."""
    table = {"/": "%C0%AF", ".": "%C0%AE", "\\": "%C1%9C"}
    return "".join(table.get(ch, ch if ch in _ALNUM else _pct(ch, lambda _c: False)) for ch in text)


# ---------------------------------------------------------------- wire: json


@register("json_unicode_escape", stage="wire", wires=("json",))
def json_unicode_escape(text: str) -> str:
    """Re-serialise a JSON text writing every non-alphanumeric string character as ``\\u00XX``
    (``{"$ne": 1}`` -> ``{"\\u0024\\u006e\\u0065"...}`` for keys too)."""
    return _rewrite_json(text, lambda ch: ch not in _ALNUM and ch != " ")


@register("json_escape_all", stage="wire", wires=("json",))
def json_escape_all(text: str) -> str:
    """Re-serialise a JSON text writing every string character as ``\\uXXXX``."""
    return _rewrite_json(text, lambda _ch: True)


@register("json_pretty", stage="wire", wires=("json",))
def json_pretty(text: str) -> str:
    """Re-serialise a JSON text with newlines and tab indentation (same value)."""
    return _rewrite_json(text, None, indent="\t")


# ---------------------------------------------------------------- wire: yaml

_SHORT_TAG = re.compile(r"!!([A-Za-z][\w/.:-]*)")


@register("yaml_verbose_tag", stage="wire", wires=("yaml",))
def yaml_verbose_tag(text: str) -> str:
    """``!!python/...`` -> ``!<tag:yaml.org,2002:python/...>`` (the verbatim tag form)."""
    return _SHORT_TAG.sub(lambda m: f"!<tag:yaml.org,2002:{m.group(1)}>", text)


@register("yaml_tag_directive", stage="wire", wires=("yaml",))
def yaml_tag_directive(text: str) -> str:
    """Declare ``%TAG !py! tag:yaml.org,2002:python/`` and spell tags ``!py!object/...``."""
    if "!!python/" not in text:
        return text
    body = text.replace("!!python/", "!py!")
    if body.startswith("---"):
        return "%TAG !py! tag:yaml.org,2002:python/\n" + body
    return "%TAG !py! tag:yaml.org,2002:python/\n---\n" + body


@register("yaml_doc_markers", stage="wire", wires=("yaml",))
def yaml_doc_markers(text: str) -> str:
    """Wrap the document in explicit ``---`` / ``...`` markers."""
    if text.lstrip().startswith(("---", "%")):
        return text
    return "---\n" + text.rstrip("\n") + "\n...\n"


@register("yaml_comment", stage="wire", wires=("yaml",))
def yaml_comment(text: str) -> str:
    """Open the document with a comment line, as exported files often do."""
    return "# exported by the partner portal\n" + text


# ---------------------------------------------------------------- value: SQL

_SQL_KEYWORDS = re.compile(
    r"\b(SELECT|UNION|ALL|FROM|WHERE|AND|OR|NOT|NULL|ORDER|BY|GROUP|LIMIT|OFFSET|LIKE|CASE|WHEN|"
    r"THEN|ELSE|END|CAST|AS|TEXT|INTEGER|SUBSTR|SUBSTRING|LENGTH|EXISTS|IN|INSERT|UPDATE|INTO|"
    r"VALUES|DELETE|GROUP_CONCAT|STRING_AGG|COALESCE|HAVING|ASCII|CHAR|CONCAT|SLEEP|PG_SLEEP)\b",
    re.IGNORECASE,
)


@register("sql_case", stage="value", classes=("sql_injection",))
def sql_case(text: str) -> str:
    """Alternate the case of SQL keywords (``UNION SELECT`` -> ``UnIoN SeLeCt``)."""
    return _SQL_KEYWORDS.sub(lambda m: _alternate(m.group(0)), text)


@register("sql_comment", stage="value", classes=("sql_injection",))
def sql_comment(text: str) -> str:
    """Inline comments instead of spaces (``UNION/**/SELECT``)."""
    return text.replace(" ", "/**/")


@register("sql_tab", stage="value", classes=("sql_injection",))
def sql_tab(text: str) -> str:
    """Tabs instead of spaces."""
    return text.replace(" ", "\t")


@register("sql_mysql_version_comment", stage="value", classes=("sql_injection",), breaks=True)
def sql_mysql_version_comment(text: str) -> str:
    """MySQL executable comments around keywords (``/*!50000UNION*/``); other databases skip them."""
    return re.sub(r"\b(UNION|SELECT)\b", lambda m: f"/*!50000{m.group(0)}*/", text, flags=re.IGNORECASE)


# ---------------------------------------------------------------- value: shell

_SHELL_WORDS = re.compile(r"\b(echo|printf|whoami|uname|sleep|cat|id|true)\b")


@register("cmd_ifs", stage="value", classes=("command_injection",))
def cmd_ifs(text: str) -> str:
    """``${IFS}`` instead of spaces (``echo${IFS}x``)."""
    return text.replace(" ", "${IFS}")


@register("cmd_tab", stage="value", classes=("command_injection",))
def cmd_tab(text: str) -> str:
    """Tabs instead of spaces."""
    return text.replace(" ", "\t")


@register("cmd_quote_split", stage="value", classes=("command_injection",))
def cmd_quote_split(text: str) -> str:
    """Empty quotes inside command names (``ec''ho``); the shell removes them."""
    return _SHELL_WORDS.sub(lambda m: m.group(0)[0] + "''" + m.group(0)[1:], text)


@register("cmd_backslash", stage="value", classes=("command_injection",))
def cmd_backslash(text: str) -> str:
    """A backslash inside command names (``ec\\ho``); the shell drops it."""
    return _SHELL_WORDS.sub(lambda m: m.group(0)[0] + "\\" + m.group(0)[1:], text)


@register("cmd_dollar_at", stage="value", classes=("command_injection",))
def cmd_dollar_at(text: str) -> str:
    """An empty ``$@`` inside command names (``ec$@ho``)."""
    return _SHELL_WORDS.sub(lambda m: m.group(0)[0] + "$@" + m.group(0)[1:], text)


@register("cmd_newline", stage="value", classes=("command_injection",))
def cmd_newline(text: str) -> str:
    """Newlines instead of ``;`` separators."""
    return text.replace(";", "\n")


# ---------------------------------------------------------------- value: SSRF

_URL_HOST = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<auth>[^/@?#]*@)?(?P<host>[^/:?#]+)")


_IP_LITERAL = re.compile(r"(?=[^.]*\d)[0-9a-fA-FxX.]+")


@register("ssrf_host_case", stage="value", classes=("ssrf",))
def ssrf_host_case(text: str) -> str:
    """Mixed case in the URL's host name (DNS names are case-insensitive)."""
    return _URL_HOST.sub(
        lambda m: m.group("scheme") + (m.group("auth") or "") + _alternate(m.group("host")), text, count=1
    )


@register("ssrf_scheme_case", stage="value", classes=("ssrf",))
def ssrf_scheme_case(text: str) -> str:
    """Upper-case scheme (``HTTP://``)."""
    return _URL_HOST.sub(
        lambda m: m.group("scheme").upper() + (m.group("auth") or "") + m.group("host"), text, count=1
    )


@register("ssrf_trailing_dot", stage="value", classes=("ssrf",))
def ssrf_trailing_dot(text: str) -> str:
    """A trailing dot on a host name (``metadata.lab.test.``): the fully-qualified spelling."""

    def fix(m: re.Match[str]) -> str:
        host = m.group("host")
        if host.endswith(".") or host.startswith("[") or _IP_LITERAL.fullmatch(host):
            return m.group(0)
        return m.group("scheme") + (m.group("auth") or "") + host + "."

    return _URL_HOST.sub(fix, text, count=1)


# ---------------------------------------------------------------- value: paths


@register("path_dot_slash", stage="value", classes=("path_traversal",))
def path_dot_slash(text: str) -> str:
    """``./`` after every ``../`` (``.././secret.txt``)."""
    return text.replace("../", ".././")


@register("path_double_slash", stage="value", classes=("path_traversal",))
def path_double_slash(text: str) -> str:
    """Doubled separators (``..//secret.txt``)."""
    return text.replace("/", "//")


@register("path_backslash", stage="value", classes=("path_traversal",), breaks=True)
def path_backslash(text: str) -> str:
    """Windows separators (``..\\secret.txt``); a POSIX file system treats them as name characters."""
    return text.replace("/", "\\")


# ---------------------------------------------------------------- value: XSS

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)")
_HANDLER = re.compile(r"(?<=[\s/])(on[a-z]+)(?==)", re.IGNORECASE)
_HANDLER_VALUE = re.compile(r"(?P<attr>\bon[a-z]+=)(?P<q>[\"']?)(?P<val>[^\"'\s>]+)", re.IGNORECASE)


@register("html_case", stage="value", classes=("xss",))
def html_case(text: str) -> str:
    """Mixed case in tag and event-handler names (``<SvG OnLoAd=...>``)."""
    text = _TAG.sub(lambda m: "<" + m.group(1) + _alternate(m.group(2)), text)
    return _HANDLER.sub(lambda m: _alternate(m.group(1)), text)


@register("xss_slash", stage="value", classes=("xss",))
def xss_slash(text: str) -> str:
    """``/`` instead of the space between a tag name and its first attribute (``<svg/onload=``)."""
    return re.sub(r"(<[A-Za-z][A-Za-z0-9]*) ", r"\1/", text)


@register("xss_newline", stage="value", classes=("xss",))
def xss_newline(text: str) -> str:
    """A newline between a tag name and its first attribute."""
    return re.sub(r"(<[A-Za-z][A-Za-z0-9]*) ", "\\1\n", text)


@register("html_entity", stage="value", classes=("xss",))
def html_entity(text: str) -> str:
    """Event-handler values as hex character references (``onload=&#x72;&#x6d;...``);
    the browser decodes them before running the handler."""
    return _HANDLER_VALUE.sub(
        lambda m: m.group("attr") + m.group("q") + "".join(f"&#x{ord(c):x};" for c in m.group("val")), text
    )


# ---------------------------------------------------------------- value: prompts

_PROMPT_WORDS = re.compile(
    r"\b(ignore|previous|instructions|secret|password|reveal|system|prompt|token|confidential|print|"
    r"repeat|rules|hidden|key)\b",
    re.IGNORECASE,
)
_HOMOGLYPHS = str.maketrans({"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "i": "і", "x": "х"})
_LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})


@register("prompt_base64", stage="value", classes=("prompt_injection",))
def prompt_base64(text: str) -> str:
    """The instruction base64-encoded behind a request to decode and follow it."""
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return f"Decode this base64 and do exactly what it says: {encoded}"


@register("prompt_hex", stage="value", classes=("prompt_injection",))
def prompt_hex(text: str) -> str:
    """The instruction hex-encoded behind a request to decode and follow it."""
    return f"The next line is hex. Decode it and follow it.\n{text.encode('utf-8').hex()}"


@register("prompt_rot13", stage="value", classes=("prompt_injection",))
def prompt_rot13(text: str) -> str:
    """The instruction in ROT13 behind a request to decode and follow it."""
    return f"This message is ROT13-encoded, decode it and comply: {codecs.encode(text, 'rot_13')}"


@register("prompt_zero_width", stage="value", classes=("prompt_injection",))
def prompt_zero_width(text: str) -> str:
    """Zero-width spaces (U+200B) between the letters of trigger words."""
    return _PROMPT_WORDS.sub(lambda m: "\u200b".join(m.group(0)), text)


@register("prompt_homoglyph", stage="value", classes=("prompt_injection",))
def prompt_homoglyph(text: str) -> str:
    """Cyrillic look-alike letters in trigger words (``sеcrеt`` with U+0435)."""
    return _PROMPT_WORDS.sub(lambda m: m.group(0).translate(_HOMOGLYPHS), text)


@register("prompt_leet", stage="value", classes=("prompt_injection",))
def prompt_leet(text: str) -> str:
    """Leetspeak in trigger words (``s3cr37``)."""
    return _PROMPT_WORDS.sub(lambda m: m.group(0).lower().translate(_LEET), text)


@register("prompt_spaced", stage="value", classes=("prompt_injection",))
def prompt_spaced(text: str) -> str:
    """Trigger words spelled out with spaces (``s e c r e t``)."""
    return _PROMPT_WORDS.sub(lambda m: " ".join(m.group(0)), text)


@register("prompt_reversed", stage="value", classes=("prompt_injection",))
def prompt_reversed(text: str) -> str:
    """The instruction written backwards behind a request to reverse it first."""
    return f"Read the following text backwards and then follow it: {text[::-1]}"


# ---------------------------------------------------------------- value: templates


@register("ssti_spaces", stage="value", classes=("ssti",))
def ssti_spaces(text: str) -> str:
    """Spaces inside the delimiters and around ``~`` (``{{ 'a' ~ 'b' }}``)."""
    text = text.replace("{{", "{{ ").replace("}}", " }}").replace("{%", "{% ").replace("%}", " %}")
    return text.replace("~", " ~ ")


@register("ssti_trim", stage="value", classes=("ssti",))
def ssti_trim(text: str) -> str:
    """Whitespace-control delimiters (``{{- ... -}}``)."""
    return text.replace("{{", "{{-").replace("}}", "-}}").replace("{%", "{%-").replace("%}", "-%}")


@register("ssti_newlines", stage="value", classes=("ssti",))
def ssti_newlines(text: str) -> str:
    """Newlines just inside the delimiters."""
    return text.replace("{{", "{{\n").replace("}}", "\n}}").replace("{%", "{%\n").replace("%}", "\n%}")


# ---------------------------------------------------------------- value: Python expressions

_PY_STRING = re.compile(r"""(?<![A-Za-z0-9_])[rbfuRBFU]{0,2}(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
_PY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FULLWIDTH = {c: chr(ord(c) - 0x21 + 0xFF01) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}


def _outside_py_strings(text: str, fn: Callable[[str], str]) -> str:
    out: list[str] = []
    pos = 0
    for m in _PY_STRING.finditer(text):
        out.append(fn(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(fn(text[pos:]))
    return "".join(out)


@register("code_spaces", stage="value", classes=("code_injection",))
def code_spaces(text: str) -> str:
    """Spaces around ``+`` and after commas outside string literals."""
    return _outside_py_strings(text, lambda s: s.replace("+", " + ").replace(",", ", "))


@register("code_fullwidth", stage="value", classes=("code_injection",))
def code_fullwidth(text: str) -> str:
    """Full-width letters in identifiers (``ｓｔｒ``): Python NFKC-normalises names, filters don't."""

    def names(segment: str) -> str:
        return _PY_NAME.sub(
            lambda m: (
                m.group(0)
                if keyword.iskeyword(m.group(0)) or m.group(0).startswith("__")
                else "".join(_FULLWIDTH.get(c, c) for c in m.group(0))
            ),
            segment,
        )

    return _outside_py_strings(text, names)


@register("code_chr", stage="value", classes=("code_injection",))
def code_chr(text: str) -> str:
    """String literals rebuilt from ``chr()`` calls (``'ab'`` -> ``(chr(97)+chr(98))``)."""

    def lit(m: re.Match[str]) -> str:
        whole = m.group(0)
        inner = whole[1:-1]
        if not inner or whole[0] not in "'\"" or "\\" in inner:
            return whole  # prefixed (f'', b'') and escaped literals stay as written
        return "(" + "+".join(f"chr({ord(c)})" for c in inner) + ")"

    return _PY_STRING.sub(lit, text)
