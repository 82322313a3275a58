"""Validation operators, which match when the value is NOT well formed:
``validateByteRange``, ``validateUrlEncoding``, ``validateUtf8Encoding``."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.seclang.operators import OperatorContext, OperatorMatch, register

__all__ = ["ByteRange", "UrlEncoding", "Utf8Encoding", "parse_byte_ranges"]

_HEX = frozenset("0123456789abcdefABCDEF")


def parse_byte_ranges(argument: str) -> frozenset[int]:
    """The bytes allowed by ``"32-126,9,10,13"``; ``ValueError`` for anything else."""
    allowed: set[int] = set()
    for item in argument.replace(" ", "").split(","):
        if not item:
            continue
        low_text, sep, high_text = item.partition("-")
        try:
            low = int(low_text)
            high = int(high_text) if sep else low
        except ValueError:
            raise ValueError(f"@validateByteRange: {item!r} is not N or N-M (bytes 0-255)") from None
        if not (0 <= low <= high <= 255):
            raise ValueError(f"@validateByteRange: {item!r} must lie within 0-255 with N <= M")
        allowed.update(range(low, high + 1))
    if not allowed:
        raise ValueError("@validateByteRange needs ranges such as 32-126,9,10,13")
    return frozenset(allowed)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Matches when a byte of the value lies outside the allowed set."""

    forbidden: str
    prefilter: tuple[str, ...] | None

    def evaluate(self, value: str) -> OperatorMatch | None:
        if not self.forbidden:
            return None
        for ch in value:
            if ch in self.forbidden or ord(ch) > 0xFF:
                return OperatorMatch(ch)
        return None


def _byte_range(argument: str, context: OperatorContext) -> ByteRange:
    allowed = parse_byte_ranges(argument)
    forbidden = "".join(chr(b) for b in range(256) if b not in allowed)
    prefilter = None if not forbidden else ("[" + "".join(f"\\x{ord(c):02x}" for c in forbidden) + "]",)
    return ByteRange(forbidden, prefilter)


@dataclass(frozen=True, slots=True)
class UrlEncoding:
    """Matches when a ``%`` is not followed by two hex digits."""

    prefilter: tuple[str, ...] | None = ("%",)

    def evaluate(self, value: str) -> OperatorMatch | None:
        start = value.find("%")
        while start != -1:
            escape = value[start : start + 3]
            if len(escape) < 3 or escape[1] not in _HEX or escape[2] not in _HEX:
                return OperatorMatch(escape)
            start = value.find("%", start + 3)
        return None


@dataclass(frozen=True, slots=True)
class Utf8Encoding:
    """Matches when the value's bytes are not valid UTF-8 (truncated or bad sequences,
    overlong forms, surrogates, code points above U+10FFFF)."""

    prefilter: tuple[str, ...] | None = ("[\\x80-\\xff]",)

    def evaluate(self, value: str) -> OperatorMatch | None:
        if value.isascii():
            return None
        try:
            value.encode("latin-1", "replace").decode("utf-8")
        except UnicodeDecodeError as exc:
            return OperatorMatch(value[exc.start : exc.end])
        return None


def _url_encoding(argument: str, context: OperatorContext) -> UrlEncoding:
    return UrlEncoding()


def _utf8_encoding(argument: str, context: OperatorContext) -> Utf8Encoding:
    return Utf8Encoding()


register("validateByteRange", _byte_range)
register("validateUrlEncoding", _url_encoding)
register("validateUtf8Encoding", _utf8_encoding)
