"""Plain values: those most transformations leave as they are.

A session id, a hex token, a numeric id, a lower-case word or slug is made of lower-case ASCII
letters, digits, ``_`` and single ``-`` between them. No decoder finds an escape in it (no
``%``, ``+``, ``&``, ``\\``), there is no case to fold, no whitespace, NUL, path separator, dot,
quote or comment marker to remove: the transformations named here return such a value
unchanged, and a chain made only of them does too. The engines skip running the chain on it
(what a new value costs is mostly its chains, some twenty for a cookie under CRS), and the
scans of its transformed texts become scans of one text.

The lists are claims about each function; tests/gateway/engines/native/test_plain.py checks
every one on plain values, and that no plain value holds what they act on.
"""

from __future__ import annotations

import re

__all__ = ["SECLANG_IDENTITY", "SECLANG_TRIGGERS", "YAML_IDENTITY", "YAML_TRIGGERS", "char_mask", "is_plain"]

_PLAIN = re.compile(r"[a-z0-9_]+(?:-[a-z0-9_]+)*")

_KNOWN_ENTRIES = 16384  # answers kept for short values (emptied whole when full; any thread)
_KNOWN_CHARS = 256
_known: dict[str, bool] = {}


def is_plain(value: str) -> bool:
    """Whether ``value`` is plain (see the module docstring); the empty value is not. The
    answer for a short value is kept: the same header values come in every request."""
    found = _known.get(value)
    if found is None:
        found = _PLAIN.fullmatch(value) is not None
        if len(value) <= _KNOWN_CHARS:
            if len(_known) >= _KNOWN_ENTRIES:
                _known.clear()
            _known[value] = found
    return found


# Beyond plain values: the characters a transformation acts on. A value holding none of a
# step's *triggers* is returned unchanged by it, so a chain whose steps' triggers the value
# avoids is skipped whole ("value 3 of a form" skips every chain that does not remove
# whitespace). Each ASCII character that some step acts on has a bit; two more bits stand
# for what only a pair of characters sets off (a run of spaces, a space before ``/`` or
# ``(``). A value with a character outside ASCII gets no mask (its chains run).
_BITS: dict[str, int] = {}
for _bit, _chars in enumerate(
    (
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "%",
        "+",
        "&",
        "\\",
        "\"'",
        "^",
        ",;",
        "\t\n\r\x0b\x0c",
        " ",
        "/",
        "(",
        "\0",
        ".",
        "-",
        "#",
        "*",
        "<",
    )
):
    for _char in _chars:
        _BITS[_char] = 1 << _bit
UPPER, PERCENT, PLUS, AMP, BACKSLASH = (1 << n for n in range(5))
QUOTE, CARET, SEPARATOR, CONTROL_SPACE, SPACE = (1 << n for n in range(5, 10))
SLASH, PAREN, NUL, DOT, DASH, HASH, STAR, ANGLE = (1 << n for n in range(10, 18))
SPACE_RUN = 1 << 18  # two spaces in a row
SPACE_BEFORE = 1 << 19  # a space before "/" or "("
NON_ASCII = 1 << 20  # set only in EVERYTHING: a value outside ASCII
EVERYTHING = (1 << 21) - 1
# a table that deletes every ASCII character no step acts on
_KEEP_TRIGGERS = {code: None for code in range(128) if chr(code) not in _BITS}

# per SecLang transformation (lower-case name): what it acts on; one not listed runs always
SECLANG_TRIGGERS: dict[str, int] = {
    "none": 0,
    "lowercase": UPPER,
    "urldecode": PERCENT | PLUS,
    "urldecodeuni": PERCENT | PLUS,
    "htmlentitydecode": AMP,
    "jsdecode": BACKSLASH,
    "cssdecode": BACKSLASH,
    "escapeseqdecode": BACKSLASH,
    "cmdline": UPPER | QUOTE | BACKSLASH | CARET | SEPARATOR | CONTROL_SPACE | SPACE_RUN | SPACE_BEFORE,
    "compresswhitespace": CONTROL_SPACE | SPACE_RUN,
    "removewhitespace": SPACE | CONTROL_SPACE,
    "removenulls": NUL,
    "replacenulls": NUL,
    "trim": SPACE | CONTROL_SPACE,
    "trimleft": SPACE | CONTROL_SPACE,
    "trimright": SPACE | CONTROL_SPACE,
    "normalisepath": SLASH | DOT,
    "normalizepath": SLASH | DOT,
    "normalisepathwin": SLASH | DOT | BACKSLASH,
    "normalizepathwin": SLASH | DOT | BACKSLASH,
    "replacecomments": SLASH,
    "removecomments": SLASH | ANGLE | DASH | HASH,
    "removecommentschar": SLASH | STAR | ANGLE | DASH | HASH,
    "utf8tounicode": NUL,
}

# the same for the YAML rules' transformations (not cmdline, compress_whitespace: they act on
# characters that have no bit here)
YAML_TRIGGERS: dict[str, int] = {
    "url_decode": PERCENT,
    "html_entity_decode": AMP,
    "unicode_normalise": NON_ASCII,
    "lowercase": UPPER,
    "remove_nulls": NUL,
    "js_decode": BACKSLASH,
    "css_decode": BACKSLASH,
    "normalise_path": SLASH | BACKSLASH | DOT,
    "remove_comments": SLASH | DASH | HASH,
}

# The transformations that return every plain value unchanged: every one with triggers (a
# plain value holds none of them but single dashes, which no step acts on alone), and the
# YAML rules' two that act on characters without a bit here. Not these: the decoders that
# read plain text as data (base64, hex, sqlHexDecode's 0x), digests, length, parity, uppercase.
SECLANG_IDENTITY: frozenset[str] = frozenset(SECLANG_TRIGGERS)
YAML_IDENTITY: frozenset[str] = frozenset({*YAML_TRIGGERS, "cmdline", "compress_whitespace"})

_MASKED_CHARS = 512  # longer values get no mask (their chains run)
_masks: dict[str, int] = {}


def char_mask(value: str) -> int:
    """The bits of what ``value`` holds that some step acts on (see above); :data:`EVERYTHING`
    for a value outside ASCII or longer than :data:`_MASKED_CHARS`. Kept per value, as
    :func:`is_plain`'s answers."""
    found = _masks.get(value)
    if found is not None:
        return found
    if len(value) > _MASKED_CHARS or not value.isascii():
        return EVERYTHING
    mask = 0
    for char in set(value.translate(_KEEP_TRIGGERS)):
        mask |= _BITS[char]
    if mask & SPACE:
        if "  " in value:
            mask |= SPACE_RUN
        if " /" in value or " (" in value:
            mask |= SPACE_BEFORE
    if len(_masks) >= _KNOWN_ENTRIES:
        _masks.clear()
    _masks[value] = mask
    return mask
