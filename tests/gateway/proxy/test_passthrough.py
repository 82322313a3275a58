"""Benign traffic passes unchanged: methods, targets, bodies, headers, status, streaming, WS."""

from __future__ import annotations

import asyncio
import base64
import gzip
from typing import Any

import pytest
from yarl import URL

from tests.gateway.proxy.upstream import SEEN, STREAM_GATE


def _headers(echo: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in echo["headers"]:
        out.setdefault(k.lower(), []).append(v)
    return out


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("GET", "/plain", b""),
        ("GET", "/api/products?category[$gt]=&x=%2F..%2F&q=a+b", b""),
        ("GET", "/p%61th/%2e%2e/odd;param?x=1&x=2", b""),
        ("POST", "/api/comments", b'{"text": "hello \xc3\xa9"}'),
        ("PUT", "/items/1", bytes(range(256)) * 100),
        ("PATCH", "/items/1", b"a=1&b=2"),
        ("DELETE", "/items/1", b""),
        ("OPTIONS", "/items", b""),
    ],
)
async def test_request_reaches_upstream_unchanged(make_gateway, client, method, target, body):
    gw = await make_gateway()
    async with client.request(
        method,
        URL(gw.url + target, encoded=True),
        data=body or None,
        headers={"X-Custom-In": "v1", "Cookie": "s=1", "Content-Type": "application/octet-stream"},
    ) as resp:
        assert resp.status == 200
        echo = await resp.json()
    assert echo["method"] == method
    assert echo["target"] == target
    assert base64.b64decode(echo["body_b64"]) == body
    sent = _headers(echo)
    assert sent["x-custom-in"] == ["v1"]
    assert sent["cookie"] == ["s=1"]
    assert sent["x-forwarded-for"] == ["127.0.0.1"]
    assert sent["x-forwarded-proto"] == ["http"]
    assert sent["x-forwarded-host"] == [f"127.0.0.1:{gw.port}"]


async def test_gateway_adds_no_default_client_headers(make_gateway):
    gw = await make_gateway()
    reader, writer = await asyncio.open_connection(gw.host, gw.port)
    writer.write(b"GET /bare HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    raw = await reader.read()
    writer.close()
    echo_body = raw.split(b"\r\n\r\n", 1)[1]
    import json

    names = {k.lower() for k, _ in json.loads(echo_body)["headers"]}
    assert not names & {"user-agent", "accept", "accept-encoding", "content-type"}


async def test_response_status_headers_and_body_pass(make_gateway, client):
    gw = await make_gateway()
    async with client.get(gw.url + "/x") as resp:
        assert resp.headers["X-Custom"] == "kept"
        assert resp.headers.getall("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
        assert "X-Secret-Hop" not in resp.headers  # named by the upstream's Connection header
        assert "Keep-Alive" not in resp.headers
    for code in (201, 204, 301, 404, 418, 500):
        async with client.get(gw.url + f"/status/{code}", allow_redirects=False) as resp:
            assert resp.status == code
            assert await resp.read() == (b"" if code == 204 else f"status {code}".encode())


async def test_hop_by_hop_request_headers_are_removed(make_gateway, client):
    gw = await make_gateway()
    headers = {
        "Connection": "keep-alive, X-Drop-Me",
        "X-Drop-Me": "1",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "Proxy-Foo": "1",
        "X-Stays": "1",
    }
    async with client.get(gw.url + "/h", headers=headers) as resp:
        sent = _headers(await resp.json())
    assert "x-stays" in sent
    for name in ("x-drop-me", "keep-alive", "te", "proxy-authorization", "proxy-foo"):
        assert name not in sent
    assert sent.get("connection", ["keep-alive"]) == ["keep-alive"]  # the gateway's own, to its upstream


async def test_gzip_body_passes_compressed(make_gateway, client):
    gw = await make_gateway()
    async with client.get(gw.url + "/gzip") as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(await resp.read()) == b"hello compressed world" * 10


async def test_large_response_and_head(make_gateway, client):
    gw = await make_gateway()
    async with client.get(gw.url + "/big?n=3000000") as resp:
        data = await resp.read()
        assert resp.headers["Content-Length"] == "3000000"
    assert data == bytes(i % 251 for i in range(3_000_000))
    async with client.head(gw.url + "/thing") as resp:
        assert resp.status == 200
        assert await resp.read() == b""


async def test_responses_stream_without_buffering(make_gateway, client, upstream):
    gw = await make_gateway()
    async with client.get(gw.url + "/stream") as resp:
        first = await asyncio.wait_for(resp.content.readline(), 5)
        assert first == b"first-chunk\n"  # arrived while the upstream still waits for us
        upstream.app[STREAM_GATE].set()
        rest = await resp.read()
    assert rest == b"chunk-0\nchunk-1\nchunk-2\n"


async def test_websocket_pass_through(make_gateway, client):
    gw = await make_gateway()
    async with client.ws_connect(gw.url + "/ws", protocols=("chat.v1",)) as ws:
        assert ws.protocol == "chat.v1"
        await ws.send_str("hi")
        assert (await ws.receive(timeout=5)).data == "echo:hi"
        await ws.send_bytes(b"\x01\x02\x03")
        assert (await ws.receive(timeout=5)).data == b"\x03\x02\x01"
        await ws.close()


async def test_request_id_kept_or_minted_and_forwarded(make_gateway, client, upstream):
    gw = await make_gateway()
    async with client.get(gw.url + "/a", headers={"X-Request-ID": "abc-123"}) as resp:
        assert resp.headers["X-Request-ID"] == "abc-123"
        assert _headers(await resp.json())["x-request-id"] == ["abc-123"]
    async with client.get(gw.url + "/a", headers={"X-Request-ID": "bad id\twith junk"}) as resp:
        minted = resp.headers["X-Request-ID"]
        assert minted != "bad id\twith junk"
        assert _headers(await resp.json())["x-request-id"] == [minted]
    assert upstream.app[SEEN][-2:] == ["abc-123", minted]


async def test_security_headers_added_and_fingerprints_dropped(make_gateway, client):
    gw = await make_gateway()
    async with client.get(gw.url + "/x") as resp:
        assert "Server" not in resp.headers
        assert "X-Powered-By" not in resp.headers
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
        assert resp.headers["Referrer-Policy"] == "no-referrer"
    # the gateway's own pages get them too
    async with client.request("TRACE", gw.url + "/x") as resp:
        assert resp.status == 405
        assert "Server" not in resp.headers
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_header_policy_is_configurable(make_gateway, client):
    gw = await make_gateway(
        headers={"content_security_policy": "default-src 'self'", "x_frame_options": None}
    )
    async with client.get(gw.url + "/x") as resp:
        assert resp.headers["Content-Security-Policy"] == "default-src 'self'"
        assert "X-Frame-Options" not in resp.headers


@pytest.mark.parametrize(
    ("trusted", "xff", "client_ip", "forwarded"),
    [
        ((), "1.2.3.4", "127.0.0.1", "127.0.0.1"),  # untrusted peer: incoming XFF dropped
        (("127.0.0.1",), "1.2.3.4", "1.2.3.4", "1.2.3.4, 127.0.0.1"),
        (
            ("127.0.0.0/8",),
            "9.9.9.9, 1.2.3.4, 127.0.0.2",
            "1.2.3.4",
            "9.9.9.9, 1.2.3.4, 127.0.0.2, 127.0.0.1",
        ),
        (("127.0.0.1",), "garbage", "127.0.0.1", "garbage, 127.0.0.1"),
    ],
)
async def test_forwarded_for_trusted_only_from_trusted_proxies(
    make_gateway, client, trusted, xff, client_ip, forwarded
):
    from tests.gateway.proxy.conftest import literal, literal_engine

    engine = literal_engine()
    gw = await make_gateway(trusted_proxies=trusted, engines=[engine])
    async with client.get(
        gw.url + "/x", headers={"X-Forwarded-For": xff, "X-Forwarded-Proto": "https"}
    ) as resp:
        sent = _headers(await resp.json())
    assert sent["x-forwarded-for"] == [forwarded]
    assert sent["x-forwarded-proto"] == (["https"] if trusted else ["http"])
    assert gw.gateway.limiter is None
    seen = literal(engine).last
    assert seen is not None
    assert seen.client_ip == client_ip


async def test_expect_continue_and_http10(make_gateway):
    gw = await make_gateway()
    reader, writer = await asyncio.open_connection(gw.host, gw.port)
    writer.write(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim.startswith(b"HTTP/1.1 100")
    writer.write(b"hello")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    writer.close()
    reader, writer = await asyncio.open_connection(gw.host, gw.port)
    writer.write(b"GET /stream10 HTTP/1.0\r\n\r\n")
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert raw.startswith(b"HTTP/1.0 200") or raw.startswith(b"HTTP/1.1 200")
    assert b'"target": "/stream10"' in raw


async def test_compressed_request_bodies_are_inspected_and_forwarded_decoded(make_gateway, client):
    detect = await make_gateway(harness=True)
    block = await make_gateway(mode="block")
    plain = b'{"text": "<script>alert(1)</script>"}'
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    async with client.post(detect.url + "/c", data=gzip.compress(plain), headers=headers) as resp:
        assert resp.headers["X-Rampart-Waf"].startswith("detect;")
        echo = await resp.json()
    assert base64.b64decode(echo["body_b64"]) == plain
    assert "content-encoding" not in _headers(echo)
    async with client.post(block.url + "/c", data=gzip.compress(plain), headers=headers) as resp:
        assert resp.status == 403


async def test_idle_websocket_outlives_the_upstream_read_timeout(make_gateway, client):
    gw = await make_gateway(timeouts={"upstream_read": 0.3})
    async with client.ws_connect(gw.url + "/ws") as ws:
        await asyncio.sleep(0.8)
        await ws.send_str("still there")
        assert (await ws.receive(timeout=5)).data == "echo:still there"
        await ws.close()
