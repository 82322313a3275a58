"""Case, whitespace, NUL and trimming transformations."""

from __future__ import annotations

from gateway.seclang.transforms import register

__all__ = ["identity", "lowercase", "uppercase"]

_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz").decode("latin-1")
_UPPER = bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ").decode("latin-1")
_LOWER_TABLE = {i: ord(c) for i, c in enumerate(_LOWER) if i != ord(c)}
_UPPER_TABLE = {i: ord(c) for i, c in enumerate(_UPPER) if i != ord(c)}


def identity(value: str) -> str:
    """``none``: the value unchanged (the core also treats it as the chain reset)."""
    return value


def lowercase(value: str) -> str:
    """ASCII letters to lower case; other bytes unchanged (C ``tolower`` in the C locale)."""
    return value.translate(_LOWER_TABLE)


def uppercase(value: str) -> str:
    """ASCII letters to upper case; other bytes unchanged."""
    return value.translate(_UPPER_TABLE)


register("none", identity)
register("lowercase", lowercase)
register("uppercase", uppercase)
