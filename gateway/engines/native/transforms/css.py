"""CSS escape decoding: ``\\HHHHHH`` (one optional trailing space) and ``\\c``."""

from __future__ import annotations

from rampart.gateway.engines.native.transforms.registry import register

__all__ = ["css_decode"]

_HEX = frozenset("0123456789abcdefABCDEF")


def css_decode(value: str) -> tuple[str, bool]:
    """Decode CSS escapes (``\\6a avascript`` becomes ``javascript``); escaped newlines vanish."""
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
        j = i + 1
        while j < n and j < i + 7 and value[j] in _HEX:
            j += 1
        if j > i + 1:
            code = int(value[i + 1 : j], 16)
            out.append(chr(code) if 0 < code < 0x110000 else "\ufffd")
            if j < n and value[j] in " \t\n":
                j += 1
            i = j
        elif value[i + 1] == "\n":
            i += 2
        else:
            out.append(value[i + 1])
            i += 2
    decoded = "".join(out)
    return decoded, decoded != value


register("css_decode", css_decode)
