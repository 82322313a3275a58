"""JavaScript string-escape decoding: ``\\xHH``, ``\\uHHHH``, ``\\u{H..}``, octal and ``\\n``-style."""

from __future__ import annotations

from rampart.gateway.engines.native.transforms.registry import register

__all__ = ["js_decode"]

_HEX = frozenset("0123456789abcdefABCDEF")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _hex_run(value: str, start: int, length: int) -> str | None:
    chunk = value[start : start + length]
    if len(chunk) == length and all(c in _HEX for c in chunk):
        return chunk
    return None


def js_decode(value: str) -> tuple[str, bool]:
    """Decode JavaScript escapes; an unknown escape drops the backslash."""
    if "\\" not in value:
        return value, False
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = value[i + 1]
        if nxt == "x" and (h := _hex_run(value, i + 2, 2)):
            out.append(chr(int(h, 16)))
            i += 4
        elif nxt == "u" and i + 2 < n and value[i + 2] == "{":
            end = value.find("}", i + 3, i + 10)  # at most six digits: never a scan to the end
            digits = value[i + 3 : end] if end != -1 else ""
            if digits and len(digits) <= 6 and all(c in _HEX for c in digits) and int(digits, 16) < 0x110000:
                out.append(chr(int(digits, 16)))
                i = end + 1
            else:
                out.append("u")
                i += 2
        elif nxt == "u" and (h := _hex_run(value, i + 2, 4)):
            out.append(chr(int(h, 16)))
            i += 6
        elif nxt in "1234567" or (nxt == "0" and i + 2 < n and value[i + 2] in "01234567"):
            j = i + 1
            while j < n and j < i + 4 and value[j] in "01234567":
                j += 1
            out.append(chr(int(value[i + 1 : j], 8) & 0xFF))
            i = j
        else:
            out.append(_SIMPLE.get(nxt, nxt))
            i += 2
    decoded = "".join(out)
    return decoded, decoded != value


register("js_decode", js_decode)
