"""Escaping literal text into Hyperscan patterns (byte semantics, latin-1 text)."""

from __future__ import annotations

__all__ = ["literal_pattern"]


def literal_pattern(text: str, *, caseless: bool = False) -> str:
    """A Hyperscan pattern matching ``text`` literally (ASCII letters either case if ``caseless``)."""
    out: list[str] = []
    for ch in text:
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch) & 0xFF:02x}")
    body = "".join(out)
    return f"(?i){body}" if caseless else body
