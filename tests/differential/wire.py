"""A raw HTTP/1.1 client for the differential suite: the request goes out byte for byte as
framed (duplicate parameters, charsets, chunked transfer, no Content-Type), which a client
library would normalise."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.differential.framings import Wire

__all__ = ["Reply", "send_wire"]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: str


def _chunks(body: bytes, size: int = 7) -> bytes:
    out = bytearray()
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


def _encode(wire: Wire, host: str, request_id: str) -> bytes:
    lines = [f"{wire.method} {wire.target} HTTP/1.1", f"Host: {host}", f"X-Request-ID: {request_id}"]
    lines += [f"{name}: {value}" for name, value in wire.headers]
    lines.append("Connection: close")
    if wire.chunked:
        lines.append("Transfer-Encoding: chunked")
        body = _chunks(wire.body)
    else:
        if wire.body or wire.method == "POST":
            lines.append(f"Content-Length: {len(wire.body)}")
        body = wire.body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _dechunk(raw: bytes) -> bytes:
    out = bytearray()
    while raw:
        size_line, _, rest = raw.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        raw = rest[size + 2 :]
    return bytes(out)


async def send_wire(base: str, wire: Wire, request_id: str, *, timeout: float = 30.0) -> Reply:
    """Send ``wire`` to ``base`` (``http://127.0.0.1:PORT``) and read the whole reply."""
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(_encode(wire, f"{host}:{port}", request_id))
            await writer.drain()
            raw = await reader.read(-1)
        finally:
            writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return Reply(status, headers, body.decode("utf-8", "replace"))
