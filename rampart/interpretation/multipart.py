"""The parts of a ``multipart/form-data`` body, split as aiohttp's ``post()`` splits them."""

from __future__ import annotations

import base64
import binascii
import quopri
import warnings
from dataclasses import dataclass, field

from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from rampart.interpretation.content_type import ContentType, body_charset, decode_text, parse_content_type
from rampart.interpretation.limits import DEFAULT_LIMITS, InterpretationLimits

__all__ = ["MultipartReading", "Part", "read_multipart"]


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a multipart body: its headers (names lower case), the form field
    ``name`` and ``filename`` from ``Content-Disposition``, the decoded body bytes and, for
    a text field, its text (``None`` for files and binary parts)."""

    headers: tuple[tuple[str, str], ...]
    name: str | None
    filename: str | None
    body: bytes
    text: str | None
    ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class MultipartReading:
    parts: list[Part] = field(default_factory=list)
    error: str | None = None
    over_limit: bool = False
    ambiguous: bool = False


def _transfer_decode(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "base64":
        try:
            return base64.b64decode(body)
        except (binascii.Error, ValueError):
            return body
    if encoding == "quoted-printable":
        return quopri.decodestring(body)
    return body


def read_multipart(
    raw: bytes, content_type: ContentType, limits: InterpretationLimits = DEFAULT_LIMITS
) -> MultipartReading:
    """The parts of ``raw`` under ``content_type``'s (first) boundary. Text fields are
    decoded with the part's charset (UTF-8 by default) as aiohttp's ``post()`` does;
    base64 / quoted-printable transfer encodings are undone."""
    boundary = content_type.params.get("boundary", "")
    if not boundary:
        return MultipartReading(error="no boundary")
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    chunks = raw.split(delimiter)
    parts: list[Part] = []
    ambiguous = False
    over = False
    for raw_chunk in chunks[1:]:
        if raw_chunk.startswith(b"--"):
            break
        if len(parts) >= limits.max_values:
            over = True
            break
        chunk = raw_chunk.removeprefix(b"\r\n").removeprefix(b"\n")
        head, sep, body = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = chunk.partition(b"\n\n")
        if not sep:
            continue
        body = body.removesuffix(b"\r\n").removesuffix(b"\n")
        headers: list[tuple[str, str]] = []
        for line in head.decode("utf-8", "replace").splitlines():
            name, colon, value = line.partition(":")
            if colon:
                headers.append((name.strip().lower(), value.strip()))
        parts.append(_part(headers, body))
        ambiguous = ambiguous or parts[-1].ambiguous
    if not parts:
        return MultipartReading(error="no parts", over_limit=over)
    return MultipartReading(parts, None, over, ambiguous)


def _part(headers: list[tuple[str, str]], body: bytes) -> Part:
    names = [n for n, _ in headers]
    ambiguous = len(set(names)) != len(names)
    first = {n: v for n, v in reversed(headers)}
    raw_disposition = first.get("content-disposition")
    name, filename, bad = _disposition(raw_disposition)
    ambiguous = ambiguous or bad
    body = _transfer_decode(body, first.get("content-transfer-encoding", ""))
    part_type = parse_content_type(first.get("content-type")) if "content-type" in first else None
    ambiguous = ambiguous or (part_type is not None and part_type.ambiguous)
    text: str | None = None
    if filename is None and (part_type is None or part_type.media.startswith("text/")):
        text, _ = decode_text(body, body_charset(part_type) if part_type else "utf-8")
    return Part(tuple(headers), name, filename, body, text, ambiguous)


def _disposition(value: str | None) -> tuple[str | None, str | None, bool]:
    """(name, filename, malformed) of a part's ``Content-Disposition`` as aiohttp reads it
    (``filename*`` preferred; a repeated parameter makes the whole header invalid, and
    aiohttp's ``post()`` then refuses the body)."""
    if value is None:
        return None, None, False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kind, params = parse_content_disposition(value)
    if kind is None:
        return None, None, True
    return params.get("name"), content_disposition_filename(params, "filename"), False
