"""Every response the gateway makes itself, aiohttp's parser errors included, carries the
security headers and a request id, never echoes input and never names the server software.
Sent over raw sockets: the malformed requests no HTTP client would send."""

from __future__ import annotations

import asyncio
import socket

import pytest

from rampart.requestid import is_valid_request_id
from tests.gateway.proxy.conftest import literal_engine

TOKEN = b"Bearer rmp-secret-token-4242"


async def _exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        raw = b""
        while b"\r\n\r\n" not in raw or len(raw) < raw.index(b"\r\n\r\n") + 4 + _length(raw):
            chunk = await asyncio.wait_for(reader.read(1 << 16), timeout)
            if not chunk:
                break
            raw += chunk
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1."), raw[:200]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def _length(raw: bytes) -> int:
    head = raw.partition(b"\r\n\r\n")[0].lower()
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def _assert_own_page(status: int, headers: dict[str, str], body: bytes, *, sent: bytes = b"") -> None:
    assert "server" not in headers, headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "content-security-policy" in headers
    assert headers["cache-control"] == "no-store"
    rid = headers["x-request-id"]
    assert is_valid_request_id(rid)
    assert rid.encode() in body
    assert str(status).encode() in body
    for leak in (b"aiohttp", b"Python", b"Traceback", b"rmp-secret", b"Invalid", b"Bad status line"):
        assert leak not in body, body
    if sent:
        for line in sent.split(b"\r\n")[1:]:
            if len(line) > 12:
                assert line not in body


MALFORMED = [
    pytest.param(b"GET /x\x00y HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="bad-request-line"),
    pytest.param(b"GET /x HTTP/1.1\r\nHost: x\r\nAuthorization " + TOKEN + b"\r\n\r\n", 400, id="bad-header"),
    pytest.param(
        b"GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: " + TOKEN + b"\x01\r\n\r\n", 400, id="ctl-in-value"
    ),
    pytest.param(
        b"GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + TOKEN + b"\r\n\r\n",
        400,
        id="header-too-long",
    ),
    pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="line-too-long"),
    pytest.param(
        b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz" + TOKEN + b"\r\n0\r\n\r\n",
        400,
        id="bad-chunking",
    ),
    pytest.param(b"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n", 400, id="bad-length"),
]


@pytest.mark.parametrize(("data", "expected"), MALFORMED)
async def test_parser_errors_get_the_gateways_page(make_gateway, data: bytes, expected: int) -> None:
    gw = await make_gateway()
    status, headers, body = await _exchange(gw.port, data)
    assert status == expected
    _assert_own_page(status, headers, body, sent=data)


async def test_parser_error_page_honours_the_header_policy(make_gateway) -> None:
    gw = await make_gateway(headers={"x_frame_options": "SAMEORIGIN", "content_security_policy": None})
    _status, headers, _body = await _exchange(gw.port, b"GET /x HTTP/1.1\r\nBad Header: y\r\n\r\n")
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert "content-security-policy" not in headers


async def test_blocked_page(make_gateway) -> None:
    gw = await make_gateway(mode="block", engines=[literal_engine(mode="block")])
    data = b"GET /?q=%3Cscript%3E HTTP/1.1\r\nHost: x\r\nAuthorization: " + TOKEN + b"\r\n\r\n"
    status, headers, body = await _exchange(gw.port, data)
    assert status == 403
    _assert_own_page(status, headers, body)


async def test_too_large_page(make_gateway) -> None:
    gw = await make_gateway(limits={"max_body_bytes": 100})
    data = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n" + b"a" * 500
    status, headers, body = await _exchange(gw.port, data)
    assert status == 413
    _assert_own_page(status, headers, body)


async def test_rate_limited_page(make_gateway) -> None:
    rule = {"name": "tight", "limit": 1, "window": 60, "key_by": ["client"]}
    gw = await make_gateway(rate_limit={"enabled": True, "rules": [rule], "key_prefix": "rmp-hd-pages:"})
    await _exchange(gw.port, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = await _exchange(gw.port, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 429
    _assert_own_page(status, headers, body)


@pytest.mark.parametrize("kind", ["down", "slow"])
async def test_upstream_failure_pages(make_gateway, kind: str) -> None:
    if kind == "down":
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        gw = await make_gateway(upstream_url=f"http://127.0.0.1:{port}")
        target, expected = b"/x", 502
    else:
        gw = await make_gateway(timeouts={"upstream_read": 0.3})
        target, expected = b"/slow?delay=2", 504
    status, headers, body = await _exchange(gw.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == expected
    _assert_own_page(status, headers, body)
