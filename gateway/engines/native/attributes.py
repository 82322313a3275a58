"""Attribute-injection confirmation: does a value without markup give an HTML tag script to run?

libinjection's XSS test (CRS 941100) reads every value also as if it began inside a tag, at an
attribute name, so prose that starts like an attribute (``onload= is an attribute name``)
scores like ``" onmouseover="alert(1)``. Without a ``<`` a value cannot open a tag; it can
only add attributes to the tag it is written into. :func:`runs_script` reads the value the ways
it can land there: at an attribute name, after breaking out of an unquoted value (at its first
space) and after breaking out of a double-, single- or back-quoted value (at its first such
quote), and tokenizes the attributes as an HTML parser would. It says yes when one of them is:

* an event handler (``on...``) whose code does something: anything beyond a lone name or
  dotted name (``is``, ``alert``, ``a.b``: evaluating a name runs nothing), or whose value the
  input leaves open (``"onzoom=``: the page's own text completes it);
* ``href``, ``src``, ``action``... whose value is a ``javascript:``/``vbscript:``/``data:`` URL,
  or left open;
* ``style`` with ``expression(`` or a script URL, or left open; ``srcdoc``.

A value that holds ``<`` is markup and is not judged here (the match counts), nor is a value that
is itself a script URL (written into an ``href``). Entities and percent-escapes are decoded
first, up to three layers deep.
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import unquote

from rampart.gateway.engines.native.operators.detect_xss import URL_ATTRIBUTES

__all__ = ["runs_script"]

_INERT = re.compile(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*;?$")
# the perimeter XSS reader's URL attributes but ``content``, a URL only in a ``<meta>`` refresh
_URL_ATTRS = URL_ATTRIBUTES - {"content"}
_SCRIPT_URL = re.compile(r"^(?:javascript|vbscript|livescript|data)\s*:", re.IGNORECASE)
_STYLE_CODE = re.compile(
    r"expression\s*\(|(?:javascript|vbscript)\s*:|-moz-binding|behavior\s*:", re.IGNORECASE
)
_SPACE = " \t\n\r\f"
_MAX_ATTRIBUTES = 256
_MAX_LAYERS = 3


def _decoded(value: str) -> str:
    text = value
    for _ in range(_MAX_LAYERS):  # double and triple encoding, as a lenient application decodes
        decoded = unquote(text) if "%" in text else text
        if "&" in decoded:
            decoded = html.unescape(decoded)
        if decoded == text:
            break
        text = decoded
    return unicodedata.normalize("NFKC", text)


def _attributes(text: str) -> list[tuple[str, str | None, bool]]:
    """(name, value, closed) of each attribute ``text`` holds, read from an attribute-name
    position: value None for a bare name; closed False when the input ends inside the value."""
    out: list[tuple[str, str | None, bool]] = []
    i, n = 0, len(text)
    while i < n and len(out) < _MAX_ATTRIBUTES:
        while i < n and (text[i] in _SPACE or text[i] in "/>"):
            i += 1
        start = i
        while i < n and text[i] not in _SPACE and text[i] not in "/>" and (text[i] != "=" or i == start):
            i += 1
        name = text[start:i].lower()
        if not name:
            break
        j = i
        while j < n and text[j] in _SPACE:
            j += 1
        if j >= n or text[j] != "=":
            out.append((name, None, True))
            continue
        j += 1
        while j < n and text[j] in _SPACE:
            j += 1
        if j >= n:
            out.append((name, "", False))  # ``name=`` at the end: the page completes the value
            break
        if text[j] in "\"'`":
            end = text.find(text[j], j + 1)
            if end == -1:
                out.append((name, text[j + 1 :], False))
                break
            out.append((name, text[j + 1 : end], True))
            i = end + 1
            continue
        end = j
        while end < n and text[end] not in _SPACE and text[end] != ">":
            end += 1
        out.append((name, text[j:end], end < n))
        i = end
    return out


def _active(name: str, value: str | None, closed: bool) -> bool:
    if value is None:
        return False
    code = value.strip()
    if name.startswith("on") and len(name) > 2:
        return not closed or (bool(code) and _INERT.match(code) is None)
    if name in _URL_ATTRS:
        return not closed or _SCRIPT_URL.match("".join(code.split())) is not None
    if name == "style":
        return not closed or _STYLE_CODE.search(code) is not None
    return name == "srcdoc"


def runs_script(value: str) -> bool:
    """True when ``value`` holds markup, or adds an attribute that runs script to the tag it is
    written into (see the module docstring)."""
    text = _decoded(value)
    if "<" in text or _SCRIPT_URL.match("".join(text.split())) is not None:
        return True  # markup, or a whole value that is a script URL (written into an href)
    starts = [text]
    space = next((k for k, c in enumerate(text) if c in _SPACE), -1)
    if space != -1:
        starts.append(text[space + 1 :])
    for quote in "\"'`":
        at = text.find(quote)
        if at != -1:
            starts.append(text[at + 1 :])
    return any(_active(*attribute) for start in starts for attribute in _attributes(start))
