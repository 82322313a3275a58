"""The gateway's lean upstream client (rampart.gateway.proxy.upstream) against upstreams that
frame, fail and misbehave the way real servers do: each test runs a raw asyncio server on
loopback that answers with exactly the bytes written here, and a gateway in front of it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest

from rampart.gateway.proxy.upstream import UpstreamError, UpstreamPool

pytestmark = pytest.mark.asyncio

Answer = Callable[[bytes, int, asyncio.StreamWriter], Awaitable[bool]]


@dataclass
class RawUpstream:
    """A loopback server that reads each request (head and Content-Length body) and lets
    ``answer`` write the reply; ``answer`` returns False to close the connection."""

    answer: Answer
    url: str = ""
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: list[bytes] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        n = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                n += 1
                if not await self.answer(head + body, n, writer):
                    return
                await writer.drain()
        finally:
            self.open_now -= 1
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@pytest.fixture
async def raw_upstream() -> AsyncIterator[Callable[[Answer], Awaitable[RawUpstream]]]:
    servers: list[tuple[asyncio.Server, RawUpstream]] = []

    async def start(answer: Answer) -> RawUpstream:
        up = RawUpstream(answer)
        server = await asyncio.start_server(up.serve, "127.0.0.1", 0)
        servers.append((server, up))
        port = server.sockets[0].getsockname()[1]
        up.url = f"http://127.0.0.1:{port}"
        return up

    yield start
    for server, up in servers:
        server.close()
        for writer in up.writers:  # the gateway's pooled connections (wait_closed waits for them)
            writer.transport.abort()
        await server.wait_closed()


def replying(*chunks: bytes, keep: bool = True) -> Answer:
    async def answer(request: bytes, n: int, writer: asyncio.StreamWriter) -> bool:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        return keep

    return answer


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"


@pytest.mark.parametrize(
    ("reply", "keep", "body"),
    [
        pytest.param([OK], True, b"hello", id="content-length"),
        pytest.param(
            [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"3\r\nhel\r\n",
                b"2\r\nlo\r\n0\r\n\r\n",
            ],
            True,
            b"hello",
            id="chunked",
        ),
        pytest.param(
            [b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhel", b"lo"], False, b"hello", id="close"
        ),
        pytest.param([b"HTTP/1.1 100 Continue\r\n\r\n", OK], True, b"hello", id="100-continue"),
        pytest.param(
            [b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" + OK],
            True,
            b"hello",
            id="103",
        ),
        pytest.param([b"HTTP/1.1 204 No Content\r\nX-Done: 1\r\n\r\n"], True, b"", id="204"),
        pytest.param([b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"], False, b"hello", id="http/1.0"),
    ],
)
async def test_response_framings_arrive_whole(make_gateway, client, raw_upstream, reply, keep, body):
    up = await raw_upstream(replying(*reply, keep=keep))
    gw = await make_gateway(upstream_url=up.url)
    for _ in range(3):  # the connection is reused, or a new one opened after a close
        async with client.get(gw.url + "/page?x=1") as resp:
            assert resp.status == (204 if b"204" in reply[0] else 200)
            assert await resp.read() == body
            assert "Link" not in resp.headers or b"103" in reply[0]
    assert up.connections == (1 if keep else 3)
    first = up.requests[0]
    assert first.startswith(b"GET /page?x=1 HTTP/1.1\r\n")
    assert f"Host: {up.url.removeprefix('http://')}".encode() in first


async def test_an_informational_answer_is_not_relayed_as_the_response(make_gateway, client, raw_upstream):
    up = await raw_upstream(replying(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", OK))
    gw = await make_gateway(upstream_url=up.url)
    async with client.get(gw.url + "/") as resp:
        assert resp.status == 200
        assert "Link" not in resp.headers  # the hint's headers stay with the hint
        assert resp.headers["Content-Type"] == "text/plain"


async def test_a_request_on_a_connection_the_upstream_dropped_is_resent_when_idempotent(
    make_gateway, client, raw_upstream
):
    async def answer(request: bytes, n: int, writer: asyncio.StreamWriter) -> bool:
        if n == 2:
            return False  # the keep-alive race: the upstream closes as the second request arrives
        writer.write(OK)
        return True

    up = await raw_upstream(answer)
    gw = await make_gateway(upstream_url=up.url)
    async with client.get(gw.url + "/a") as resp:
        assert resp.status == 200
    async with client.get(gw.url + "/b") as resp:  # sent twice: the second time on a new connection
        assert resp.status == 200
        assert await resp.read() == b"hello"
    assert [r.split(b" ")[1] for r in up.requests] == [b"/a", b"/b", b"/b"]
    async with client.post(gw.url + "/c", data=b"once") as resp:  # on the new connection: n == 2 again
        assert resp.status == 502  # a POST is never sent twice: it may have been acted on
    assert sum(r.startswith(b"POST /c ") for r in up.requests) == 1
    assert up.requests[-1].endswith(b"\r\n\r\nonce")


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        pytest.param([b"this is not http\r\n\r\n"], 502, id="garbage"),
        pytest.param(
            [b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n"], 502, id="huge-head"
        ),
        pytest.param(
            [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"],
            502,
            id="101",
        ),
        pytest.param(
            [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"], 502, id="two-lengths"
        ),
        pytest.param([], 502, id="closed-at-once"),
    ],
)
async def test_a_broken_answer_is_a_gateway_error_page(make_gateway, client, raw_upstream, reply, status):
    up = await raw_upstream(replying(*reply, keep=False))
    gw = await make_gateway(upstream_url=up.url)
    async with client.get(gw.url + "/x") as resp:
        assert resp.status == status
        assert "X-Request-ID" in resp.headers
    assert (
        gw.gateway.metrics.upstream_errors.labels("disconnected" if not reply else "protocol")._value.get()
        >= 1
    )


async def test_silence_past_the_read_timeout_is_a_504(make_gateway, client, raw_upstream):
    async def silent(request: bytes, n: int, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(2)
        return False

    up = await raw_upstream(silent)
    gw = await make_gateway(upstream_url=up.url, timeouts={"upstream_read": 0.3})
    async with client.get(gw.url + "/slow") as resp:
        assert resp.status == 504


async def test_a_slow_but_steady_body_is_not_cut_by_the_read_timeout(make_gateway, client, raw_upstream):
    async def dribble(request: bytes, n: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n")
        for _ in range(8):  # 1.6 s in all, never silent for the 0.5 s limit
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(b"x")
        return True

    up = await raw_upstream(dribble)
    gw = await make_gateway(upstream_url=up.url, timeouts={"upstream_read": 0.5})
    async with client.get(gw.url + "/") as resp:
        assert await resp.read() == b"x" * 8


async def test_a_truncated_body_reaches_the_client_truncated(make_gateway, client, raw_upstream):
    up = await raw_upstream(replying(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b", keep=False))
    gw = await make_gateway(upstream_url=up.url)
    async with client.get(gw.url + "/") as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()  # never passed off as a complete 10-byte answer
    assert gw.gateway.metrics.upstream_errors.labels("mid_stream")._value.get() == 1


async def test_connections_are_bounded_and_requests_queue_for_them(make_gateway, client, raw_upstream):
    async def slow(request: bytes, n: int, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.1)
        writer.write(OK)
        return True

    up = await raw_upstream(slow)
    gw = await make_gateway(upstream_url=up.url, upstream_connections=2)

    async def one(i: int) -> int:
        async with client.get(f"{gw.url}/{i}") as resp:
            await resp.read()
            status: int = resp.status
            return status

    assert await asyncio.gather(*(one(i) for i in range(8))) == [200] * 8
    assert up.most_open <= 2
    assert up.connections == 2


async def test_header_bytes_that_are_not_utf8_pass_unchanged(make_gateway, raw_upstream):
    up = await raw_upstream(replying(OK))
    gw = await make_gateway(upstream_url=up.url)
    reader, writer = await asyncio.open_connection(gw.host, gw.port)
    writer.write(b"GET /raw HTTP/1.1\r\nHost: example\r\nX-Name: caf\xe9 \xff\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"\r\nX-Name: caf\xe9 \xff\r\n" in up.requests[0]


async def test_streams_large_bodies_with_backpressure(make_gateway, raw_upstream):
    size = 32 * 1024 * 1024

    async def big(request: bytes, n: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        block = b"z" * 65536
        for _ in range(size // len(block)):
            writer.write(block)
            await writer.drain()
        return True

    up = await raw_upstream(big)
    gw = await make_gateway(upstream_url=up.url)
    reader, writer = await asyncio.open_connection(gw.host, gw.port)
    writer.write(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    await asyncio.sleep(0.5)  # a client that does not read: the gateway must stop reading too
    pool = gw.gateway.upstream
    assert pool is not None
    waiting = [c.response.buffered for c in pool.connections if c.response is not None]
    assert waiting
    assert max(waiting) <= 2 * 1024 * 1024  # paused near the high-water mark, not the whole body
    got = len(await reader.readexactly(size))
    writer.close()
    assert got == size


async def test_the_head_refuses_a_header_that_would_split_the_request():
    pool = UpstreamPool("127.0.0.1", 9, limit=1, connect_timeout=1, read_timeout=1, host_header="h")
    assert pool.head("GET", "/", [("A", "b")], None) == b"GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n"
    assert pool.head("POST", "/", [], None).endswith(b"Content-Length: 0\r\n\r\n")
    assert pool.head("PUT", "/", [], b"abc").endswith(b"Content-Length: 3\r\n\r\n")
    for bad in ("b\r\nX-Smuggled: 1", "b\nX: 1", "b\rX: 1"):
        with pytest.raises(UpstreamError):
            pool.head("GET", "/", [("A", bad)], None)


async def test_an_unreachable_upstream_is_a_502_and_a_closed_pool_refuses(make_gateway, client):
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    gw = await make_gateway(upstream_url=f"http://127.0.0.1:{port}")
    async with client.get(gw.url + "/") as resp:
        assert resp.status == 502
    assert gw.gateway.metrics.upstream_errors.labels("connect")._value.get() == 1
