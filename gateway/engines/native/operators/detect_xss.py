"""``detect_xss``: an HTML tag scanner that flags markup which would run script.

Flags: tags that execute or load active content (``script``, ``iframe``, ``object``, ...),
any event-handler attribute (``on*=``), ``srcdoc``, URL attributes whose value is a
``javascript:``/``vbscript:``/``data:text/html`` URL, CSS ``expression(``, and a whole value that
is such a URL (injection into an ``href``). Harmless markup (``<b>``, ``<p>``, ``a < b``, ``<3``,
``<https://...>``) passes.
"""

from __future__ import annotations

import re
from typing import Any

from rampart.gateway.engines.native.operators.registry import register

__all__ = ["URL_ATTRIBUTES", "XssDetector", "find_xss"]

_EXEC_TAGS = frozenset(
    {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "import", "portal"}
)
# attributes whose value a browser loads or follows as a URL
URL_ATTRIBUTES = frozenset(
    {
        "href",
        "src",
        "action",
        "formaction",
        "data",
        "xlink:href",
        "background",
        "lowsrc",
        "dynsrc",
        "poster",
        "codebase",
        "to",
        "from",
        "values",
        "by",
        "content",
        "ping",
    }
)
_BAD_SCHEMES = (
    "javascript:",
    "vbscript:",
    "livescript:",
    "data:text/html",
    "data:image/svg+xml",
    "data:application/x",
)
_NAME_END = frozenset(" \t\n\r\f/>=<")
_VALUE_END = frozenset(" \t\n\r\f><")
_SCAN_LIMIT = 4096


def _bad_url(value: str) -> bool:
    compact = "".join(c for c in value if not (c.isspace() or ord(c) < 32)).lower()
    return compact.startswith(_BAD_SCHEMES)


def _opens_tag(text: str, at: int) -> bool:
    """Whether ``text[at] == '<'`` starts a tag (``<x`` or ``</x``)."""
    nxt = text[at + 1 : at + 3]
    return nxt[:1].isalpha() or (nxt[:1] == "/" and nxt[1:].isalpha())


def _tag_flags(text: str, start: int) -> int | None:
    """Parse the tag that opens at ``text[start] == '<'``; its end index if it would run script.

    Outside quoted values the scan stops where the next tag opens: that tag is scanned on its
    own, so every stretch of text is read a bounded number of times (``<a<a<a...`` would
    otherwise cost ``_SCAN_LIMIT`` characters per ``<``)."""
    n = len(text)
    i = start + 1
    if i < n and text[i] == "/":
        i += 1
    j = i
    while j < n and (text[j].isalnum() or text[j] in "-:_"):
        j += 1
    if j == i or not text[i].isalpha():
        return None
    tag = text[i:j].lower()
    limit = min(n, start + _SCAN_LIMIT)
    k = j
    dangerous = tag in _EXEC_TAGS
    while k < limit and text[k] != ">":
        if text[k] in " \t\n\r\f/\"'":
            k += 1
            continue
        if text[k] == "<" and _opens_tag(text, k):
            break
        a = k
        while k < limit and text[k] not in _NAME_END:
            k += 1
        attr = text[a:k].lower()
        while k < limit and text[k] in " \t\n\r\f":
            k += 1
        value = ""
        if k < limit and text[k] == "=":
            k += 1
            while k < limit and text[k] in " \t\n\r\f":
                k += 1
            if k < limit and text[k] in "\"'`":
                quote = text[k]
                end = text.find(quote, k + 1, limit)
                end = limit if end == -1 else end
                value = text[k + 1 : end]
                k = end + 1
            else:
                v = k
                while k < limit and text[k] not in _VALUE_END:
                    k += 1
                value = text[v:k]
            if (
                (attr.startswith("on") and len(attr) > 2 and attr[2:].isalpha())
                or attr == "srcdoc"
                or (attr in URL_ATTRIBUTES and _bad_url(value))
                or (attr == "style" and ("expression(" in value.lower() or "javascript:" in value.lower()))
            ):
                dangerous = True
        if k == a:
            k += 1
    return min(k + 1, n) if dangerous else None


# Where a tag that could run script may open: a non-ASCII name, an executing tag's name, or a
# name followed (before any '<' or '>') by an '=' or by a '<' that opens no tag (the tag scan
# reads on past it). Every other tag ends without an attribute value: it cannot be dangerous.
# Possessive runs keep the search linear; the lookahead leaves a following '<' to be found.
_SUSPECT = re.compile(
    r"</?(?:[^\x00-\x7f]|(?i:" + "|".join(sorted(_EXEC_TAGS)) + r")"
    r"|[A-Za-z][A-Za-z0-9:_-]*+(?:[^\x00-\x7f]|[^<>=]*+(?==|<(?!/?[A-Za-z]))))"
)


def find_xss(text: str) -> str | None:
    """The markup in ``text`` that would run script, or None. Only the tags :data:`_SUSPECT`
    finds get the full parse (``<a<a<a...`` costs one regex pass, not a call per tag)."""
    if _bad_url(text[:64]):
        return text[:64]
    for candidate in _SUSPECT.finditer(text):
        start = candidate.start()
        end = _tag_flags(text, start)
        if end is not None:
            return text[start:end][:_SCAN_LIMIT]
    return None


class XssDetector:
    """Operator wrapper around :func:`find_xss`; runs only where a tag opens or a script URL appears."""

    prefilter: tuple[str, ...] | None = (
        r"<[/]?[A-Za-z]",
        r"(?i)(?:java|vb|live)script:",
        r"(?i)data:\s*(?:text/html|image/svg|application/x)",
    )

    def __init__(self, argument: Any = None) -> None:
        if argument not in (None, "", {}):
            raise ValueError("detect_xss takes no argument")

    def match(self, value: str) -> str | None:
        return find_xss(value)


register("detect_xss", XssDetector)
