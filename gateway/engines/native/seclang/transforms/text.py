"""Case, whitespace, NUL, trimming, length and parity transformations.

"Whitespace" is C's ``isspace`` in the C locale (space, ``\\t\\n\\v\\f\\r``); ModSecurity's
``removeWhitespace`` also removes the bytes of a UTF-8 non-breaking space (``0xa0`` and
``0xc2``, each wherever it stands), ``compressWhitespace`` does not.
"""

from __future__ import annotations

import re

from rampart.gateway.engines.native.seclang.transforms.registry import register

__all__ = [
    "compress_whitespace",
    "identity",
    "length",
    "lowercase",
    "parity_even_7bit",
    "parity_odd_7bit",
    "parity_zero_7bit",
    "remove_nulls",
    "remove_whitespace",
    "replace_nulls",
    "trim",
    "trim_left",
    "trim_right",
    "uppercase",
]

_C_SPACE = " \t\n\v\f\r"
_LOWER_TABLE = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_UPPER_TABLE = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}
_SPACE_RUN = re.compile("[ \t\n\v\f\r]+")
_REMOVE_SPACE = {ord(c): None for c in _C_SPACE + "\xa0\xc2"}


def identity(value: str) -> str:
    """``none``: the value unchanged (the core also treats it as the chain reset)."""
    return value


def lowercase(value: str) -> str:
    """ASCII letters to lower case; other bytes unchanged (C ``tolower`` in the C locale)."""
    return value.lower() if value.isascii() else value.translate(_LOWER_TABLE)


def uppercase(value: str) -> str:
    """ASCII letters to upper case; other bytes unchanged."""
    return value.upper() if value.isascii() else value.translate(_UPPER_TABLE)


def compress_whitespace(value: str) -> str:
    """Every run of whitespace becomes one space."""
    return _SPACE_RUN.sub(" ", value)


def remove_whitespace(value: str) -> str:
    """Every whitespace byte removed, and every ``0xa0`` and ``0xc2`` byte."""
    return value.translate(_REMOVE_SPACE)


def remove_nulls(value: str) -> str:
    """Every NUL byte removed."""
    return value.replace("\0", "")


def replace_nulls(value: str) -> str:
    """Every NUL byte replaced by a space."""
    return value.replace("\0", " ")


def trim_left(value: str) -> str:
    """Leading whitespace removed."""
    return value.lstrip(_C_SPACE)


def trim_right(value: str) -> str:
    """Trailing whitespace removed."""
    return value.rstrip(_C_SPACE)


def trim(value: str) -> str:
    """Leading and trailing whitespace removed."""
    return value.strip(_C_SPACE)


def length(value: str) -> str:
    """The value's length in bytes, in decimal."""
    return str(len(value))


def _parity_table(kind: str) -> dict[int, int]:
    """ModSecurity counts the parity over all eight bits of the input byte, then sets or
    clears the top bit."""
    table: dict[int, int] = {}
    for code in range(256):
        odd_ones = bin(code).count("1") % 2 == 1
        if kind == "zero":
            table[code] = code & 0x7F
        elif odd_ones == (kind == "even"):
            table[code] = code | 0x80
        else:
            table[code] = code & 0x7F
    return table


_EVEN = _parity_table("even")
_ODD = _parity_table("odd")
_ZERO = _parity_table("zero")


def parity_even_7bit(value: str) -> str:
    """Top bit set where the byte had an odd number of one bits, cleared otherwise."""
    return value.translate(_EVEN)


def parity_odd_7bit(value: str) -> str:
    """Top bit set where the byte had an even number of one bits, cleared otherwise."""
    return value.translate(_ODD)


def parity_zero_7bit(value: str) -> str:
    """Each byte's top bit cleared."""
    return value.translate(_ZERO)


register("none", identity)
register("lowercase", lowercase)
register("uppercase", uppercase)
register("compressWhitespace", compress_whitespace)
register("removeWhitespace", remove_whitespace)
register("removeNulls", remove_nulls)
register("replaceNulls", replace_nulls)
register("trim", trim)
register("trimLeft", trim_left)
register("trimRight", trim_right)
register("length", length)
register("parityEven7bit", parity_even_7bit)
register("parityOdd7bit", parity_odd_7bit)
register("parityZero7bit", parity_zero_7bit)
