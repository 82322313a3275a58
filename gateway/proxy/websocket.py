"""WebSocket pass-through: the upgrade request was inspected like any other request; once
both sides are open, messages are relayed as they are (not inspected)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["handshake_free", "is_websocket_upgrade", "relay"]

_HANDSHAKE = frozenset(
    {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol"}
)


def is_websocket_upgrade(request: web.BaseRequest) -> bool:
    return (
        request.headers.get("Upgrade", "").lower() == "websocket"
        and "upgrade" in request.headers.get("Connection", "").lower()
    )


def handshake_free(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers without the client's handshake ones (the upstream handshake makes its own)."""
    return [(k, v) for k, v in headers if k.lower() not in _HANDSHAKE]


async def _pump(src: Any, dst: Any) -> None:
    async for msg in src:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await dst.send_bytes(msg.data)
        else:
            break
    if not dst.closed:
        code = src.close_code or aiohttp.WSCloseCode.OK
        await dst.close(code=code)


async def relay(
    request: web.Request,
    upstream: aiohttp.ClientWebSocketResponse,
    response_headers: dict[str, str],
) -> web.WebSocketResponse:
    """Accept the client's upgrade with the upstream's chosen subprotocol and relay."""
    ws = web.WebSocketResponse(protocols=(upstream.protocol,) if upstream.protocol else (), compress=False)
    ws.headers.update(response_headers)
    await ws.prepare(request)
    tasks = [asyncio.create_task(_pump(ws, upstream)), asyncio.create_task(_pump(upstream, ws))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError, ConnectionError):
                await task
        await upstream.close()
        await ws.close()
    return ws
