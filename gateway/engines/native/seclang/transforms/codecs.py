"""Encodings and digests: ``base64Decode``, ``base64DecodeExt``, ``hexDecode``, ``hexEncode``,
``sqlHexDecode``, ``urlEncode``, ``utf8toUnicode``, ``sha1``, ``md5``."""

from __future__ import annotations

import binascii
import hashlib
import re

from rampart.gateway.engines.native.seclang.transforms.registry import register

__all__ = [
    "base64_decode",
    "base64_decode_ext",
    "hex_decode",
    "hex_encode",
    "md5",
    "sha1",
    "sql_hex_decode",
    "url_encode",
    "utf8_to_unicode",
]

_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_INDEX = {ch: i for i, ch in enumerate(_B64_ALPHABET)}


def _b64_bits(digits: list[int]) -> str:
    """Base64 digit values to bytes, dropping the bits of an incomplete final byte."""
    out = bytearray()
    acc = bits = 0
    for digit in digits:
        acc = ((acc << 6) | digit) & 0xFFFF
        bits += 6
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    return out.decode("latin-1")


def _strict_digits(text: str) -> list[int] | None:
    """The digits of strict (RFC 4648, mbedTLS) base64, or None if ``text`` is not that:
    line breaks may separate lines (spaces only right before one), at most two ``=`` and
    nothing but padding after them, digits plus padding a multiple of four."""
    digits: list[int] = []
    padding = 0
    i, n = 0, len(text)
    while i < n:
        spaces = 0
        while i < n and text[i] == " ":
            i += 1
            spaces += 1
        if i == n:
            break
        if text.startswith("\r\n", i) or text[i] == "\n":
            i += 2 if text[i] == "\r" else 1
            continue
        if spaces:
            return None
        ch = text[i]
        if ch == "=":
            padding += 1
            if padding > 2:
                return None
        elif ch in _B64_INDEX and not padding:
            digits.append(_B64_INDEX[ch])
        else:
            return None
        i += 1
    if (len(digits) + padding) % 4:
        return None
    return digits


# strict base64 on one line: digits, then at most two ``=``
_ONE_LINE = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def base64_decode(value: str) -> str:
    """Strict base64 (read up to the first NUL) decoded; a value that is not strict base64
    is returned unchanged, as libmodsecurity does."""
    text = value.split("\0", 1)[0]
    if _ONE_LINE.fullmatch(text) is not None:
        # the common case at C speed: one line of digits and padding, a multiple of four
        # long (binascii drops the bits of an incomplete last byte, as _b64_bits does)
        return binascii.a2b_base64(text).decode("latin-1") if len(text) % 4 == 0 else value
    if " " not in text and "\n" not in text:
        return value  # a byte outside the alphabet, or padding before a digit: not base64
    digits = _strict_digits(text)
    return value if digits is None else _b64_bits(digits)


def base64_decode_ext(value: str) -> str:
    """Forgiving base64: bytes that are not base64 digits are skipped, and so is ``=``, with
    libmodsecurity's two empty-result cases: ``=`` (not followed by another ``=``) right after a
    lone leftover digit, and a value ending in ``=`` or ``9`` with a lone leftover digit (its
    engine compares the last digit's value, 61 for ``9``, with the code of ``=``)."""
    digits: list[int] = []
    n = len(value)
    for i, ch in enumerate(value):
        if ch == "=":
            following = value[i + 1] if i + 1 < n else ""
            if following != "=" and len(digits) % 4 == 1:
                return ""
            continue
        digit = _B64_INDEX.get(ch)
        if digit is not None:
            digits.append(digit)
    if value.endswith(("=", "9")) and len(digits) % 4 == 1:
        return ""
    return _b64_bits(digits)


def _x2c_digit(code: int) -> int:
    """One digit as ModSecurity's ``x2c`` reads it, whether or not it is hex."""
    return ((code & 0xDF) - 0x41 + 10) if code >= 0x41 else code - 0x30


def hex_decode(value: str) -> str:
    """Each pair of bytes read as two hex digits (ModSecurity does not check that they are:
    other bytes give whatever its digit arithmetic gives); an odd last byte is dropped."""
    out: list[str] = []
    for i in range(0, len(value) - 1, 2):
        high, low = _x2c_digit(ord(value[i])), _x2c_digit(ord(value[i + 1]))
        out.append(chr((high * 16 + low) & 0xFF))
    return "".join(out)


def hex_encode(value: str) -> str:
    """Each byte as two lower-case hex digits."""
    return binascii.hexlify(value.encode("latin-1", "replace")).decode("ascii")


_SQL_HEX = re.compile(r"0[xX]((?:[0-9a-fA-F]{2})+)")


def sql_hex_decode(value: str) -> str:
    """SQL hex literals ``0xHHHH...`` decoded to their bytes (an odd last digit stays)."""
    if "0" not in value:
        return value
    return _SQL_HEX.sub(lambda m: bytes.fromhex(m.group(1)).decode("latin-1"), value)


_URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*")


def url_encode(value: str) -> str:
    """Space to ``+``; letters, digits and ``*`` kept; every other byte ``%xx``."""
    out: list[str] = []
    for ch in value:
        if ch in _URL_SAFE:
            out.append(ch)
        elif ch == " ":
            out.append("+")
        else:
            out.append(f"%{ord(ch) & 0xFF:02x}")
    return "".join(out)


_MIN_CODE = {2: 0x80, 3: 0x800, 4: 0x10000}


def utf8_to_unicode(value: str) -> str:
    """Each UTF-8 sequence of 2-4 bytes becomes ``%uXXXX`` (lower-case hex, at least four
    digits), with libmodsecurity's quirks: a lead byte whose continuation bytes are missing or
    wrong is dropped, NUL bytes are dropped (except a final one), an overlong or surrogate
    sequence is followed by its lead byte, a lead byte 0xF5-0xF7 is kept before its sequence;
    stray continuation bytes and 0xF8-0xFF are kept."""
    if value.isascii() and "\0" not in value[:-1]:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        c = ord(value[i])
        if c < 0x80:
            if c or i == n - 1:
                out.append(value[i])
            i += 1
            continue
        width = 2 if 0xC0 <= c < 0xE0 else 3 if 0xE0 <= c < 0xF0 else 4 if 0xF0 <= c < 0xF8 else 1
        if width == 1:
            out.append(value[i])
            i += 1
            continue
        if c >= 0xF5:
            out.append(value[i])
        tail = value[i + 1 : i + width]
        if len(tail) < width - 1 or not all(0x80 <= ord(b) < 0xC0 for b in tail):
            i += 1
            continue
        code = c & (0x7F >> width)
        for b in tail:
            code = (code << 6) | (ord(b) & 0x3F)
        out.append(f"%u{code:04x}")
        if 0xD800 <= code <= 0xDFFF:
            out.append(value[i])
        if code < _MIN_CODE[width]:
            out.append(value[i])
        i += width
    return "".join(out)


def sha1(value: str) -> str:
    """The SHA-1 digest (20 raw bytes)."""
    return hashlib.sha1(value.encode("latin-1", "replace"), usedforsecurity=False).digest().decode("latin-1")


def md5(value: str) -> str:
    """The MD5 digest (16 raw bytes)."""
    return hashlib.md5(value.encode("latin-1", "replace"), usedforsecurity=False).digest().decode("latin-1")


register("base64Decode", base64_decode)
register("base64DecodeExt", base64_decode_ext)
register("hexDecode", hex_decode)
register("hexEncode", hex_encode)
register("sqlHexDecode", sql_hex_decode)
register("urlEncode", url_encode)
register("utf8toUnicode", utf8_to_unicode)
register("sha1", sha1)
register("md5", md5)
