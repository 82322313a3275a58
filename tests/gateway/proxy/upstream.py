"""A real upstream for proxy tests: echo, streaming, WebSocket echo, slow, status codes."""

from __future__ import annotations

import asyncio
import base64
import gzip

from aiohttp import web

SEEN = web.AppKey("seen", list)
STREAM_GATE = web.AppKey("stream_gate", asyncio.Event)


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    request.app[SEEN].append(request.headers.get("X-Request-ID", ""))
    resp = web.json_response(
        {
            "method": request.method,
            "target": request.raw_path,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body_b64": base64.b64encode(body).decode(),
            "peer": request.remote,
        }
    )
    resp.headers["Server"] = "upstream/1.0"
    resp.headers["X-Powered-By"] = "PHP/5.1"
    resp.headers["X-Custom"] = "kept"
    resp.headers["Connection"] = "X-Secret-Hop"
    resp.headers["X-Secret-Hop"] = "must-not-pass"
    resp.headers["Keep-Alive"] = "timeout=5"
    resp.headers.add("Set-Cookie", "a=1; Path=/")
    resp.headers.add("Set-Cookie", "b=2; Path=/")
    return resp


async def stream(request: web.Request) -> web.StreamResponse:
    """Writes one chunk, waits until the test saw it through the proxy, then the rest."""
    resp = web.StreamResponse()
    resp.content_type = "text/plain"
    await resp.prepare(request)
    await resp.write(b"first-chunk\n")
    gate = request.app[STREAM_GATE]
    await asyncio.wait_for(gate.wait(), 10)
    gate.clear()
    for i in range(3):
        await resp.write(f"chunk-{i}\n".encode())
    await resp.write_eof()
    return resp


async def big(request: web.Request) -> web.Response:
    n = int(request.query.get("n", "1000000"))
    return web.Response(body=bytes(i % 251 for i in range(n)), content_type="application/octet-stream")


async def gz(request: web.Request) -> web.Response:
    data = gzip.compress(b"hello compressed world" * 10)
    return web.Response(body=data, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})


async def endless(request: web.Request) -> web.StreamResponse:
    """64 KiB chunks until the reader goes away (at most 256 MiB)."""
    resp = web.StreamResponse()
    resp.content_type = "application/octet-stream"
    await resp.prepare(request)
    chunk = b"z" * 65536
    for _ in range(4096):
        await resp.write(chunk)
        await asyncio.sleep(0)
    await resp.write_eof()
    return resp


async def truncated(request: web.Request) -> web.StreamResponse:
    """Promises 1000 bytes, sends 10, hangs up."""
    resp = web.StreamResponse(headers={"Content-Length": "1000"})
    await resp.prepare(request)
    await resp.write(b"0123456789")
    await asyncio.sleep(0.05)
    assert request.transport is not None
    request.transport.close()
    return resp


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("delay", "2")))
    return web.Response(text="slow")


async def status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    return web.Response(status=code, text="" if code in (204, 304) else f"status {code}")


async def login(request: web.Request) -> web.Response:
    data = await request.json()
    if data.get("password") == "right":
        return web.json_response({"ok": True})
    return web.json_response({"ok": False}, status=401)


async def rasp(request: web.Request) -> web.Response:
    return web.Response(
        text="ok", headers={"X-Rampart-Rasp": "detect; detections=ssrf", "X-Rampart-Waf": "fake"}
    )


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=("chat.v1",))
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == web.WSMsgType.TEXT:
            await ws.send_str("echo:" + msg.data)
        elif msg.type == web.WSMsgType.BINARY:
            await ws.send_bytes(msg.data[::-1])
    return ws


def create_upstream() -> web.Application:
    app = web.Application(client_max_size=64 << 20)
    app[SEEN] = []
    app[STREAM_GATE] = asyncio.Event()
    app.router.add_get("/stream", stream)
    app.router.add_get("/big", big)
    app.router.add_get("/endless", endless)
    app.router.add_get("/gzip", gz)
    app.router.add_get("/slow", slow)
    app.router.add_get("/truncated", truncated)
    app.router.add_get("/ws", ws_echo)
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_post("/api/login", login)
    app.router.add_get("/rasp", rasp)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app
