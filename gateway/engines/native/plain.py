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

__all__ = ["SECLANG_IDENTITY", "YAML_IDENTITY", "is_plain"]

_PLAIN = re.compile(r"[a-z0-9_]+(?:-[a-z0-9_]+)*")

# SecLang transformations (lower-case names) that return every plain value unchanged; not
# here: the decoders that read plain text as data (base64, hex, sqlHexDecode's 0x), digests,
# length, parity, uppercase
SECLANG_IDENTITY: frozenset[str] = frozenset(
    {
        "none",
        "lowercase",
        "urldecode",
        "urldecodeuni",
        "htmlentitydecode",
        "jsdecode",
        "cssdecode",
        "escapeseqdecode",
        "cmdline",
        "compresswhitespace",
        "removewhitespace",
        "removenulls",
        "replacenulls",
        "trim",
        "trimleft",
        "trimright",
        "normalisepath",
        "normalizepath",
        "normalisepathwin",
        "normalizepathwin",
        "replacecomments",
        "removecomments",
        "removecommentschar",
        "utf8tounicode",
    }
)

# the same for the YAML rules' transformations (not base64_decode_if_encoded)
YAML_IDENTITY: frozenset[str] = frozenset(
    {
        "url_decode",
        "html_entity_decode",
        "unicode_normalise",
        "lowercase",
        "remove_nulls",
        "compress_whitespace",
        "cmdline",
        "remove_comments",
        "normalise_path",
        "js_decode",
        "css_decode",
    }
)


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
