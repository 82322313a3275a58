"""Validation operators, which match when the value is NOT well formed:
``validateByteRange``, ``validateUrlEncoding``, ``validateUtf8Encoding``."""

from __future__ import annotations

from dataclasses import dataclass

from rampart.gateway.engines.native.seclang.operators.registry import OperatorContext, OperatorMatch, register

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
    """Matches when the value's bytes are not UTF-8 as libmodsecurity checks it: a sequence cut
    short or with a bad continuation byte, a lead byte 0x80-0xBF or 0xF5-0xFF, an overlong
    form, a surrogate. (Four-byte forms of 0x110000-0x1FFFFF from lead 0xF4 pass, as there.)"""

    prefilter: tuple[str, ...] | None = ("[\\x80-\\xff]",)

    def evaluate(self, value: str) -> OperatorMatch | None:
        if value.isascii():
            return None
        i, n = 0, len(value)
        while i < n:
            width = _utf8_width(value, i)
            if width <= 0:
                return OperatorMatch(value[i:])
            i += width
        return None


_MIN_CODE = {2: 0x80, 3: 0x800, 4: 0x10000}


def _utf8_width(value: str, i: int) -> int:
    """The length of the well-formed sequence at ``value[i]``, or 0 if it is not one."""
    lead = ord(value[i])
    if lead < 0x80:
        return 1
    if 0xC0 <= lead < 0xE0:
        width = 2
    elif 0xE0 <= lead < 0xF0:
        width = 3
    elif 0xF0 <= lead < 0xF5:
        width = 4
    else:
        return 0
    tail = value[i + 1 : i + width]
    if len(tail) < width - 1 or not all(0x80 <= ord(ch) < 0xC0 for ch in tail):
        return 0
    code = lead & (0x7F >> width)
    for ch in tail:
        code = (code << 6) | (ord(ch) & 0x3F)
    if 0xD800 <= code <= 0xDFFF or code < _MIN_CODE[width]:
        return 0
    return width


def _url_encoding(argument: str, context: OperatorContext) -> UrlEncoding:
    return UrlEncoding()


def _utf8_encoding(argument: str, context: OperatorContext) -> Utf8Encoding:
    return Utf8Encoding()


register("validateByteRange", _byte_range)
register("validateUrlEncoding", _url_encoding)
register("validateUtf8Encoding", _utf8_encoding)
