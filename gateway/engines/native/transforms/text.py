"""Text normalisation: Unicode NFKC (fullwidth forms), case, whitespace and NUL bytes."""

from __future__ import annotations

import unicodedata

from rampart.gateway.engines.native.transforms.registry import register

__all__ = ["compress_whitespace", "lowercase", "remove_nulls", "unicode_normalise"]

_WS = frozenset(" \t\n\r\f\v\xa0\u2028\u2029\u3000\u200b\ufeff")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


def unicode_normalise(value: str) -> tuple[str, bool]:
    """NFKC (fullwidth ``＜`` becomes ``<``) and drop zero-width characters."""
    if value.isascii():
        return value, False
    normal = unicodedata.normalize("NFKC", value).translate(_INVISIBLE)
    return normal, normal != value


def lowercase(value: str) -> tuple[str, bool]:
    """Lower-case the value."""
    lower = value.lower()
    return lower, lower != value


def compress_whitespace(value: str) -> tuple[str, bool]:
    """Turn every run of whitespace (including non-breaking and ideographic spaces) into one space."""
    out: list[str] = []
    in_ws = False
    for ch in value:
        if ch in _WS or ch.isspace():
            if not in_ws:
                out.append(" ")
            in_ws = True
        else:
            out.append(ch)
            in_ws = False
    compressed = "".join(out)
    return compressed, compressed != value


def remove_nulls(value: str) -> tuple[str, bool]:
    """Drop NUL characters."""
    if "\0" not in value:
        return value, False
    return value.replace("\0", ""), True


register("unicode_normalise", unicode_normalise)
register("lowercase", lowercase)
register("compress_whitespace", compress_whitespace)
register("remove_nulls", remove_nulls)
