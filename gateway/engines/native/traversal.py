"""Path-escape confirmation: does a value's ``..`` take a path above where it starts?

CRS's traversal rules (930100: an encoded ``../``, 930110: a decoded one) match the pattern
wherever it occurs, so ``guides/../returns.md`` or ``http://host/a/../products``, which stay
inside their start, score like ``../../etc/passwd``. :func:`escapes` reads the value the ways
an application, a web server or a file system might before it opens the path, and says
whether any reading ends outside the place it starts, or at a sensitive absolute location:

* decodings, up to four layers deep: ``%xx`` (double encoding is two layers), IIS ``%uXXXX``,
  overlong UTF-8 (``%c0%ae``, ``%e0%80%ae``; a U+FFFD that an earlier strict decoder left may
  have been an overlong ``/``), ``0x2e``/``0x2f``/``0x5c``, HTML entities, NFKC (fullwidth
  ``．．／``) and IIS's best-fit separators (``%u2215``); NUL bytes dropped;
* wildcards: a segment of two or three dots and ``?`` (``/???/``) may be ``..``, since ``?``
  stands for any character (CRS 930100 reads it so);
* separators: ``/`` and Windows ``\\``; a segment's ``;parameters`` dropped (Tomcat's ``..;/``);
  a segment of dots and trailing spaces (``...``, ``.. ``) read as ``..`` (Windows trims them);
* a naive filter: ``../`` and ``..\\`` removed once (``....//`` becomes ``../``);
* where a path starts: each piece between ``? & = ; , | < >``, quotes and whitespace starts
  afresh; ``scheme://authority`` and a drive letter are a root; ``file:`` is dropped;
* it escapes when the ``..`` segments climb above the start, or when an absolute path, once its
  dot segments are resolved, lands in a system location (``/etc/``, ``/proc/``, ``/root/``,
  ``C:\\Windows``, ``win.ini``, ``.ssh``...).

Every reading errs towards counting: one escaping reading is enough.
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import unquote_to_bytes

__all__ = ["escapes", "readings"]

_MAX_LAYERS = 4
_IIS = re.compile(r"%[uU]([0-9A-Fa-f]{4})")
_HEX_LITERAL = re.compile(r"0x(2e|2f|5c)", re.IGNORECASE)
# overlong UTF-8 forms of one ASCII character (2, 3 and 4 bytes), which lenient decoders accept
_OVERLONG = re.compile(
    rb"[\xc0\xc1][\x80-\xbf]|\xe0[\x80-\x9f][\x80-\xbf]|\xf0[\x80-\x8f][\x80-\xbf][\x80-\xbf]"
)
# what IIS's best-fit mapping (and CRS 930100) reads as separators beyond NFKC's fullwidth forms
_BEST_FIT = str.maketrans({"\u2215": "/", "\uefc8": "/", "\u2216": "\\", "\uf025": "\\"})
_PIECES = re.compile(r"[?&=;,|<>\"'`\s\x00]+")
_PIECES_WILD = re.compile(r"[&=;,|<>\"'`\s\x00]+")  # '?' kept: a wildcard inside a path
_ROOT = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://[^/]*|[A-Za-z]:(?=/)|file:)", re.IGNORECASE)
_DOTS = re.compile(r"^\.{2,}[ .]*$")
_WILD_DOTS = re.compile(r"^[.?]{2,3}$")  # '?' may stand for a dot, as CRS 930100 reads it
_SENSITIVE = re.compile(
    r"^/(?:etc|proc|root|sys|dev|boot|var/(?:log|run/secrets|lib)|home/[^/]+/\.)(?:/|$)"
    r"|(?:^|/)(?:windows|winnt|boot\.ini|win\.ini|system32|inetpub)(?:/|$)"
    r"|(?:^|/)\.(?:ssh|aws|git|env|htaccess|htpasswd|bash_history)(?:/|$)|(?:^|/)id_(?:rsa|dsa|ecdsa|ed25519)",
    re.IGNORECASE,
)


def _overlong(match: re.Match[bytes]) -> bytes:
    data = match.group(0)
    code = data[0] & (0x1F, 0x0F, 0x07)[len(data) - 2]
    for byte in data[1:]:
        code = (code << 6) | (byte & 0x3F)
    return bytes([code]) if code < 0x80 else data


def _decode_once(text: str) -> str:
    text = _IIS.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = _HEX_LITERAL.sub(lambda m: chr(int(m.group(1), 16)), text)
    if "%" in text:
        raw = _OVERLONG.sub(_overlong, unquote_to_bytes(text))
        text = raw.decode("utf-8", "replace")
    if "&" in text:
        text = html.unescape(text)
    return unicodedata.normalize("NFKC", text).translate(_BEST_FIT)


def readings(value: str) -> list[str]:
    """``value`` decoded layer by layer (itself first), then each with Windows separators read as
    ``/`` and with ``../`` removed once, as a naive filter would: the paths an application might
    open."""
    layers = [value]
    text = value
    for _ in range(_MAX_LAYERS):
        decoded = _decode_once(text)
        if decoded == text:
            break
        layers.append(decoded)
        text = decoded
    out: list[str] = []
    for layer in layers:
        text = layer.replace("\x00", "")
        # U+FFFD: bytes a strict decoder refused, which a lenient one may read as an overlong '/'
        slashed = text.replace("\\", "/").replace("\ufffd", "/")
        for reading in (text, slashed, slashed.replace("../", "")):
            if reading not in out:
                out.append(reading)
    return out


def _is_parent(segment: str) -> bool:
    name = segment.split(";", 1)[0]
    return _DOTS.match(name) is not None or ("?" in name and _WILD_DOTS.match(name) is not None)


def _climbs_or_lands(piece: str) -> bool:
    """Whether ``piece`` (one path, ``/`` separated) climbs above its start or, absolute,
    resolves to a sensitive location."""
    root = _ROOT.match(piece)
    absolute = False
    if root is not None:
        piece = piece[root.end() :]
        absolute = True
    absolute = absolute or piece.startswith("/")
    depth = 0
    kept: list[str] = []
    for segment in piece.split("/"):
        if _is_parent(segment):
            depth -= 1
            if depth < 0:
                return True
            if kept:
                kept.pop()
        elif segment not in ("", "."):
            depth += 1
            kept.append(segment)
    if absolute or (root is None and piece.startswith("~")):
        return _SENSITIVE.search("/" + "/".join(kept)) is not None
    return False


def escapes(value: str) -> bool:
    """True when some reading of ``value`` (see :func:`readings`) holds a path whose ``..``
    segments climb above its start or an absolute path whose resolution is a system location."""
    for reading in readings(value):
        if ".." in reading:
            for piece in _PIECES.split(reading):
                if ".." in piece and _climbs_or_lands(piece):
                    return True
        if "?" in reading:
            for piece in _PIECES_WILD.split(reading):
                if "?" in piece and _climbs_or_lands(piece):
                    return True
    return False
