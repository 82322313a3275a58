"""URL decoding and encoding transformations."""

from __future__ import annotations

from rampart.gateway.engines.native.seclang.transforms.registry import register

__all__ = ["url_decode", "url_decode_uni"]

_HEX = frozenset("0123456789abcdefABCDEF")


def _is_hex(value: str, start: int, count: int) -> bool:
    end = start + count
    return end <= len(value) and all(ch in _HEX for ch in value[start:end])


def url_decode(value: str) -> str:
    """``urlDecode``: ``%XX`` to its byte and ``+`` to a space; a bad escape stays as written."""
    if "%" not in value and "+" not in value:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch == "%" and _is_hex(value, i + 1, 2):
            out.append(chr(int(value[i + 1 : i + 3], 16)))
            i += 3
        elif ch == "+":
            out.append(" ")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def url_decode_uni(value: str) -> str:
    """``urlDecodeUni``: ``urlDecode`` plus IIS's ``%uXXXX``, which becomes one byte.

    libmodsecurity keeps the low byte of the code point, except that full-width ASCII
    (``%uFF01``..``%uFF5E``) maps to the ASCII character it stands for (``0x20`` added to the
    low byte), so ``%uFF1C`` is ``<``.
    """
    if "%" not in value and "+" not in value:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch == "%":
            if i + 1 < n and value[i + 1] in "uU" and _is_hex(value, i + 2, 4):
                code = int(value[i + 2 : i + 6], 16)
                low = code & 0xFF
                if 0xFF01 <= code <= 0xFF5E:
                    low = (low + 0x20) & 0xFF
                out.append(chr(low))
                i += 6
                continue
            if _is_hex(value, i + 1, 2):
                out.append(chr(int(value[i + 1 : i + 3], 16)))
                i += 3
                continue
            out.append(ch)
            i += 1
        elif ch == "+":
            out.append(" ")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


register("urlDecode", url_decode)
register("urlDecodeUni", url_decode_uni)
