"""HTML entity decoding (named, decimal and hex, with or without the semicolon)."""

from __future__ import annotations

import html as _html

from rampart.gateway.engines.native.transforms.registry import register

__all__ = ["html_entity_decode"]

_MAX_ROUNDS = 3


def html_entity_decode(value: str) -> tuple[str, bool]:
    """Decode entities repeatedly (``&amp;lt;`` becomes ``<``)."""
    if "&" not in value:
        return value, False
    original = value
    for _ in range(_MAX_ROUNDS):
        decoded = _html.unescape(value)
        if decoded == value:
            break
        value = decoded
    return value, value != original


register("html_entity_decode", html_entity_decode)
