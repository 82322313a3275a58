"""URL decoding: repeated percent-decoding, the IIS ``%uXXXX`` form and overlong UTF-8."""

from __future__ import annotations

from rampart.gateway.engines.native.transforms.registry import register

__all__ = ["url_decode", "url_decode_once"]

_HEX_BYTES = frozenset(b"0123456789abcdefABCDEF")
_MAX_ROUNDS = 4


def _decode_bytes(raw: bytearray) -> str:
    """UTF-8, reading the overlong forms old servers accepted (``%c0%ae`` is ``.``, ``%c0%af``
    is ``/``) as the characters they encode; other invalid bytes become U+FFFD."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        b0 = raw[i]
        if b0 in (0xC0, 0xC1) and i + 1 < n and 0x80 <= raw[i + 1] < 0xC0:
            out.append(chr(((b0 & 0x1F) << 6) | (raw[i + 1] & 0x3F)))
            i += 2
        elif b0 == 0xE0 and i + 2 < n and 0x80 <= raw[i + 1] < 0xA0 and 0x80 <= raw[i + 2] < 0xC0:
            out.append(chr(((raw[i + 1] & 0x3F) << 6) | (raw[i + 2] & 0x3F)))
            i += 3
        else:
            j = i + 1
            while j < n and not (raw[j] < 0x80 or raw[j] >= 0xC0):
                j += 1
            out.append(bytes(raw[i:j]).decode("utf-8", "replace"))
            i = j
    return "".join(out)


def url_decode_once(value: str, *, plus_as_space: bool = True) -> str:
    """One round of percent decoding (``+`` as space in form encoding); invalid escapes are kept.
    Works on whole pieces between ``%`` signs, so long values cost C-level string operations."""
    if plus_as_space and "+" in value:
        value = value.replace("+", " ")
    if "%" not in value:
        return value
    pieces = value.encode("utf-8", "surrogatepass").split(b"%")
    out = bytearray(pieces[0])
    for piece in pieces[1:]:
        head = piece[:2]
        if len(head) == 2 and all(c in _HEX_BYTES for c in head):
            out.append(int(head, 16))
            out += piece[2:]
        elif piece[:1] in (b"u", b"U") and len(piece) >= 5 and all(c in _HEX_BYTES for c in piece[1:5]):
            out += chr(int(piece[1:5], 16)).encode("utf-8", "surrogatepass")
            out += piece[5:]
        else:
            out += b"%"
            out += piece
    return _decode_bytes(out)


def url_decode(value: str) -> tuple[str, bool]:
    """Percent-decode until the value stops changing (at most a few rounds). ``+`` stays: the
    parser already read the form encoding, so a ``+`` left in a value is a literal plus."""
    if "%" not in value:
        return value, False
    original = value
    for _ in range(_MAX_ROUNDS):
        decoded = url_decode_once(value, plus_as_space=False)
        if decoded == value:
            break
        value = decoded
    return value, value != original


register("url_decode", url_decode)
