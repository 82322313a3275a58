"""Base64 decoding of embedded tokens that look encoded and decode to readable text."""

from __future__ import annotations

import base64
import binascii

from rampart.gateway.engines.native.transforms.registry import register

__all__ = ["base64_decode_if_encoded"]

_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_")
_MIN_TOKEN = 16
_MAX_TOKEN = 1 << 16


def _decode_token(token: str) -> str | None:
    if not (_MIN_TOKEN <= len(token) <= _MAX_TOKEN):
        return None
    core = token.rstrip("=")
    if not any(c.isdigit() or c.isupper() for c in core) or not any(c.islower() for c in core):
        return None
    padded = core + "=" * (-len(core) % 4)
    try:
        raw = (base64.urlsafe_b64decode if ("-" in core or "_" in core) else base64.b64decode)(padded)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    printable = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    if not text or printable < 0.9 * len(text):
        return None
    return text


def base64_decode_if_encoded(value: str) -> tuple[str, bool]:
    """Replace every whitespace-separated token that is valid base64 of readable text by its
    decoding; other tokens stay."""
    if len(value) < _MIN_TOKEN:
        return value, False
    changed = False
    out: list[str] = []
    for token in value.split():
        decoded = _decode_token(token) if _ALPHABET.issuperset(token) else None
        if decoded is None:
            out.append(token)
        else:
            out.append(decoded)
            changed = True
    if not changed:
        return value, False
    return " ".join(out), True


register("base64_decode_if_encoded", base64_decode_if_encoded)
