"""Ways the naive model "reads" obfuscated text: each decoder is ``str -> str | None``.

The model tries every decoder on the user's message (and on what they produced, two
levels deep), then looks for instructions in every reading.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from collections.abc import Callable
from urllib.parse import unquote

import re2

__all__ = ["DECODERS", "readings"]

Decoder = Callable[[str], str | None]

_ZERO_WIDTH = re.compile("[\u00ad\u034f\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_B64 = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
_HEX = re2.compile(r"\b(?:0x)?((?:[0-9a-fA-F]{2}){8,}|(?:[0-9a-fA-F]{2}[ :]){7,}[0-9a-fA-F]{2})\b")
_SPACED = re.compile(r"\b(?:[A-Za-z][ ._-]){3,}[A-Za-z]\b")
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
_LEET_CHARS = re.compile("[013457@$]")
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a",
        "е": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "А": "A",
        "Е": "E",
        "О": "O",
        "Р": "P",
        "С": "C",
        "Т": "T",
        "Н": "H",
        "К": "K",
        "М": "M",
        "В": "B",
        "ο": "o",
        "α": "a",
        "ε": "e",
        "ι": "i",
    }
)


def _text_like(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    letters = sum(c.isalpha() for c in text)
    if len(text) < 4 or letters < len(text) * 0.5 or not text.isprintable():
        return None
    return text


def zero_width(text: str) -> str | None:
    cleaned = _ZERO_WIDTH.sub("", text)
    return cleaned if cleaned != text else None


def base64_chunks(text: str) -> str | None:
    out: list[str] = []
    for token in _B64.findall(text):
        padded = token + "=" * (-len(token) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded = _text_like(decode(padded))
            except (binascii.Error, ValueError):
                continue
            if decoded:
                out.append(decoded)
                break
    return " ".join(out) or None


def hex_chunks(text: str) -> str | None:
    out: list[str] = []
    for token in _HEX.findall(text):
        digits = re.sub(r"[ :]", "", token)
        if len(digits) % 2:
            digits = digits[:-1]
        decoded = _text_like(bytes.fromhex(digits))
        if decoded:
            out.append(decoded)
    return " ".join(out) or None


def rot13(text: str) -> str | None:
    return codecs.encode(text, "rot_13")


def percent(text: str) -> str | None:
    decoded = unquote(text)
    return decoded if decoded != text else None


def reversed_text(text: str) -> str | None:
    return text[::-1]


def leetspeak(text: str) -> str | None:
    mapped = _LEET_CHARS.sub(lambda m: _LEET[m.group(0)], text)
    return mapped if mapped != text else None


def spaced_letters(text: str) -> str | None:
    joined = _SPACED.sub(lambda m: re.sub(r"[ ._-]", "", m.group(0)), text)
    return joined if joined != text else None


def lookalikes(text: str) -> str | None:
    mapped = unicodedata.normalize("NFKC", text).translate(_HOMOGLYPHS)
    return mapped if mapped != text else None


DECODERS: dict[str, Decoder] = {
    "zero_width": zero_width,
    "lookalikes": lookalikes,
    "base64": base64_chunks,
    "hex": hex_chunks,
    "rot13": rot13,
    "percent": percent,
    "reversed": reversed_text,
    "leetspeak": leetspeak,
    "spaced_letters": spaced_letters,
}


def readings(text: str, depth: int = 2, limit: int = 64) -> list[tuple[str, str]]:
    """``(how, text)`` for the message and every decoding of it, ``depth`` levels deep."""
    seen = {text}
    out = [("plain", text)]
    frontier = [("plain", text)]
    for _ in range(depth):
        nxt: list[tuple[str, str]] = []
        for how, current in frontier:
            for name, decode in DECODERS.items():
                decoded = decode(current)
                if decoded and decoded not in seen and len(out) < limit:
                    seen.add(decoded)
                    label = name if how == "plain" else f"{how}+{name}"
                    out.append((label, decoded))
                    nxt.append((label, decoded))
        frontier = nxt
    return out
