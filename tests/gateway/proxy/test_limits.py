"""Malformed, oversized and slow requests get a 4xx; upstream failures a clean 502/504."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.gateway.proxy.conftest import literal, literal_engine
from tests.gateway.proxy.upstream import SEEN, STREAM_GATE


async def _raw(host: str, port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(1 << 16), timeout)
    finally:
        writer.close()


def _status(raw: bytes) -> int:
    assert raw.startswith(b"HTTP/1."), raw[:200]
    return int(raw.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"NOT A REQUEST\r\n\r\n", 400),
        (b"GET /x HTTP/9.9\r\nHost: x\r\n\r\n", 400),
        (b"GET /x\x00y HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /x HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400),
        (b"GET /x HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", 400),
        (b"GET /x HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n", 400),
        (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
        (
            b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (b"GET http://example.invalid/x HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"TRACE /x HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (
            b"GET /x HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n",
            431,
        ),
        (
            b"GET /x HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 4000) for i in range(10))
            + b"\r\n",
            431,
        ),
    ],
)
async def test_malformed_requests_get_4xx_not_a_crash(make_gateway, upstream, caplog, data, expected):
    gw = await make_gateway()
    caplog.set_level(logging.DEBUG)
    raw = await _raw(gw.host, gw.port, data)
    assert _status(raw) == expected
    assert b"Traceback" not in raw
    assert not upstream.app[SEEN]
    async with aiohttp.ClientSession() as session, session.get(gw.url + "/still-up") as resp:
        assert resp.status == 200  # the gateway survives
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    if not data.startswith(b"NOT"):  # non-HTTP noise is logged at debug level only, not counted
        assert re.search(
            r'rampart_gateway_rejected_total\{reason="\w+"\} 1\.0', gw.gateway.metrics.render().decode()
        )


async def test_declared_body_over_limit_is_413(make_gateway, client, upstream):
    gw = await make_gateway(limits={"max_body_bytes": 1000})
    async with client.post(gw.url + "/x", data=b"a" * 1001) as resp:
        assert resp.status == 413
    assert not upstream.app[SEEN]


async def test_chunked_body_over_limit_is_413(make_gateway, client, upstream):
    gw = await make_gateway(limits={"max_body_bytes": 1000})

    async def gen() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"a" * 500

    async with client.post(gw.url + "/x", data=gen()) as resp:
        assert resp.status == 413
    assert not upstream.app[SEEN]


async def test_oversize_body_passes_uninspected_when_configured(make_gateway, client):
    engine = literal_engine()
    gw = await make_gateway(limits={"max_body_bytes": 1000, "oversize_body": "pass"}, engines=[engine])
    body = b"b" * 5000
    async with client.post(gw.url + "/x", data=body) as resp:
        assert resp.status == 200
        echo = await resp.json()
    assert base64.b64decode(echo["body_b64"]) == body
    seen = literal(engine).last
    assert seen is not None
    assert seen.body_truncated is True
    assert len(seen.body) == 1000


async def test_slow_body_is_408(make_gateway, upstream):
    gw = await make_gateway(timeouts={"client_body": 0.3})
    raw = await _raw(gw.host, gw.port, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    assert _status(raw) == 408
    assert not upstream.app[SEEN]


async def test_slowloris_headers_are_cut_off(make_gateway):
    gw = await make_gateway(timeouts={"client_header": 0.5})
    loop = asyncio.get_running_loop()
    start = loop.time()
    reader, writer = await asyncio.open_connection(gw.host, gw.port)
    writer.write(b"GET /x HTTP/1.1\r\nHost: x\r\n")
    closed_at = None
    try:
        for i in range(30):
            try:
                data = await asyncio.wait_for(reader.read(1), 0.1)
            except TimeoutError:
                writer.write(b"X-Slow-%d: v\r\n" % i)  # one more header line, never the blank line
                await writer.drain()
                continue
            assert data == b"", "the gateway answered a request it never fully received"
            closed_at = loop.time()
            break
    except ConnectionError:
        closed_at = loop.time()
    finally:
        writer.close()
    assert closed_at is not None, "the gateway kept a trickling connection open"
    assert closed_at - start < 2.0


async def test_upstream_down_is_502(make_gateway, client):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    gw = await make_gateway(upstream_url=f"http://127.0.0.1:{port}")
    async with client.get(gw.url + "/x", headers={"X-Request-ID": "down-1"}) as resp:
        assert resp.status == 502
        text = await resp.text()
    assert "down-1" in text
    for leak in ("Errno", "refused", "127.0.0.1", "Traceback", "aiohttp"):
        assert leak not in text


async def test_upstream_slow_is_504(make_gateway, client):
    gw = await make_gateway(timeouts={"upstream_read": 0.3})
    async with client.get(gw.url + "/slow?delay=2") as resp:
        assert resp.status == 504
        assert "Traceback" not in await resp.text()
    metrics = gw.gateway.metrics.render().decode()
    assert 'rampart_gateway_upstream_errors_total{kind="timeout"} 1.0' in metrics


async def test_websocket_to_down_upstream_is_502(make_gateway, client):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    gw = await make_gateway(upstream_url=f"http://127.0.0.1:{port}")
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await client.ws_connect(gw.url + "/ws")
    assert info.value.status == 502


async def test_upstream_dying_mid_body_truncates_the_client_response(make_gateway, client, caplog):
    gw = await make_gateway()
    caplog.set_level(logging.DEBUG)
    async with client.get(gw.url + "/truncated") as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    metrics = gw.gateway.metrics.render().decode()
    assert 'rampart_gateway_upstream_errors_total{kind="mid_stream"} 1.0' in metrics
    assert not [r for r in caplog.records if r.exc_info]


async def test_client_leaving_mid_stream_is_harmless(make_gateway, client, upstream, caplog):
    gw = await make_gateway()
    caplog.set_level(logging.DEBUG)
    async with client.get(gw.url + "/stream") as resp:
        assert await resp.content.readline() == b"first-chunk\n"
        resp.close()
    upstream.app[STREAM_GATE].set()
    await asyncio.sleep(0.2)
    async with client.get(gw.url + "/after") as resp:
        assert resp.status == 200
    assert not [r for r in caplog.records if r.exc_info]
