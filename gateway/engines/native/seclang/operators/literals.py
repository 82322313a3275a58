"""Escaping literal text into Hyperscan patterns (byte semantics, latin-1 text)."""

from __future__ import annotations

__all__ = ["byte_text", "literal_pattern"]


def byte_text(text: str) -> str:
    """``text`` as one character per byte: unchanged if it already is (latin-1 text, as the
    rule parser hands arguments over); text holding characters above U+00FF is taken as
    Unicode and turned into its UTF-8 bytes, which is what the rule file holds."""
    if all(ord(ch) <= 0xFF for ch in text):
        return text
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


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
