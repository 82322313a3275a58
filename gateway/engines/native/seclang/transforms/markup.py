"""Decoders for markup and script escapes: ``htmlEntityDecode``, ``jsDecode``, ``cssDecode``,
``escapeSeqDecode``.

Each numeric escape yields ONE byte (the low byte of the code point), as in ModSecurity, with
its full-width rule: ``\\uFF01``..``\\uFF5E`` (JS) and 4-6 digit CSS escapes of that range
become the ASCII character they stand for.
"""

from __future__ import annotations

import re

from rampart.gateway.engines.native.seclang.transforms.registry import register

__all__ = ["css_decode", "escape_seq_decode", "html_entity_decode", "js_decode"]

_NAMED = {"quot": '"', "amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0"}
_ENTITY = re.compile(r"&(?:#[xX]([0-9a-fA-F]+)|#([0-9]+)|([A-Za-z0-9]+));?")
_C_LONG_MAX = 2**63 - 1
_HEX = frozenset("0123456789abcdefABCDEF")
_OCT = frozenset("01234567")
_C_SPACE = frozenset(" \t\n\v\f\r")
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _entity_byte(digits: str, base: int) -> str:
    number = int(digits, base)
    return chr(0xFF if number > _C_LONG_MAX else number & 0xFF)


def _entity(match: re.Match[str]) -> str:
    hex_digits, dec_digits, name = match.groups()
    if hex_digits is not None:
        return _entity_byte(hex_digits, 16)
    if dec_digits is not None:
        return _entity_byte(dec_digits, 10)
    lowered = name.lower()
    for known, char in _NAMED.items():
        if lowered.startswith(known):
            return char
    return match.group(0)


def html_entity_decode(value: str) -> str:
    """``&#xHH;``, ``&#DD;`` (low byte; past C's ``long`` range 0xff) and ``&quot; &amp; &lt;
    &gt; &nbsp;`` (any case) decoded to one byte each; the ``;`` is optional. As in
    libmodsecurity a name only has to START with a known one (``&ltfoo;`` is ``<``: the whole
    letter run and ``;`` go); other named entities stay as written."""
    return _ENTITY.sub(_entity, value) if "&" in value else value


def js_decode(value: str) -> str:
    """JavaScript escapes: ``\\uHHHH`` (low byte; full-width ASCII mapped), ``\\xHH``, octal
    ``\\OOO`` (at most one byte), ``\\a\\b\\f\\n\\r\\t\\v``; any other escaped character stands
    for itself. A backslash at the very end stays."""
    if "\\" not in value:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 5 < n and value[i + 1] == "u" and all(c in _HEX for c in value[i + 2 : i + 6]):
            low = int(value[i + 4 : i + 6], 16)
            if 0 < low < 0x5F and value[i + 2 : i + 4] in ("ff", "fF", "Ff", "FF"):
                low += 0x20
            out.append(chr(low))
            i += 6
        elif i + 3 < n and value[i + 1] == "x" and value[i + 2] in _HEX and value[i + 3] in _HEX:
            out.append(chr(int(value[i + 2 : i + 4], 16)))
            i += 4
        elif i + 1 < n and value[i + 1] in _OCT:
            j = i + 1
            while j < n and j < i + 4 and value[j] in _OCT:
                j += 1
            digits = value[i + 1 : j]
            if len(digits) == 3 and digits[0] > "3":
                digits = digits[:2]
            out.append(chr(int(digits, 8)))
            i += 1 + len(digits)
        elif i + 1 < n:
            out.append(_SIMPLE.get(value[i + 1], value[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


_ESCAPE_SIMPLE = {**_SIMPLE, "\\": "\\", "?": "?", "'": "'", '"': '"'}


def escape_seq_decode(value: str) -> str:
    """ANSI C escapes: ``\\a\\b\\f\\n\\r\\t\\v\\\\\\?\\'\\"``, ``\\xHH`` / ``\\XHH``, octal
    ``\\O``..``\\OOO`` (low byte); an unknown escape drops the backslash; a final lone backslash
    stays."""
    if "\\" not in value:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = value[i + 1]
        if nxt in _ESCAPE_SIMPLE:
            out.append(_ESCAPE_SIMPLE[nxt])
            i += 2
        elif nxt in "xX" and i + 3 < n and value[i + 2] in _HEX and value[i + 3] in _HEX:
            out.append(chr(int(value[i + 2 : i + 4], 16)))
            i += 4
        elif nxt in _OCT:
            j = i + 1
            while j < n and j < i + 4 and value[j] in _OCT:
                j += 1
            out.append(chr(int(value[i + 1 : j], 8) & 0xFF))
            i = j
        else:
            out.append(nxt)
            i += 2
    return "".join(out)


def css_decode(value: str) -> str:
    """CSS escapes: a backslash and 1-6 hex digits is one byte (the last two digits; a 4-6 digit
    escape of full-width ASCII maps to ASCII), one following whitespace swallowed; backslash-
    newline vanishes; a backslash before anything else drops; a final backslash vanishes."""
    if "\\" not in value:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        i += 1
        if i >= n:
            break
        j = 0
        while j < 6 and i + j < n and value[i + j] in _HEX:
            j += 1
        if j == 0:
            if value[i] != "\n":
                out.append(value[i])
            i += 1
            continue
        digits = value[i : i + j]
        code = int(digits[-2:], 16)
        full_check = j == 4 or (j == 5 and digits[0] == "0") or (j == 6 and digits[:2] == "00")
        if full_check and 0 < code < 0x5F and digits[-4:-2] in ("ff", "fF", "Ff", "FF"):
            code += 0x20
        out.append(chr(code))
        i += j
        if i < n and value[i] in _C_SPACE:
            i += 1
    return "".join(out)


register("htmlEntityDecode", html_entity_decode)
register("jsDecode", js_decode)
register("escapeSeqDecode", escape_seq_decode)
register("cssDecode", css_decode)
