"""Faults the client causes stay contained: no traceback, a counted line, a clean 4xx."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct

import pytest


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.exc_info or r.levelno >= logging.ERROR or "Unhandled exception" in r.getMessage()
    ]


async def test_client_reset_mid_download_is_a_counted_line(make_gateway, client, caplog) -> None:
    gw = await make_gateway()
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        got = 0
        while got < 200_000:
            got += len(await asyncio.wait_for(reader.read(65536), 5))
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # closed with unread data and linger 0: the peer sees a reset
        await asyncio.sleep(0.3)
    async with client.get(gw.url + "/after") as resp:
        assert resp.status == 200
    assert not _tracebacks(caplog), [r.getMessage() for r in _tracebacks(caplog)]
    assert 'rampart_gateway_client_gone_total{stage="response"} 3.0' in gw.gateway.metrics.render().decode()
    assert [r for r in caplog.records if r.getMessage().startswith("client_gone")]


async def test_a_body_declared_gzip_that_is_not_is_a_clean_400(make_gateway, client, caplog) -> None:
    gw = await make_gateway()
    caplog.set_level(logging.DEBUG)
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    async with client.post(gw.url + "/echo", data=b'{"rmp-plain": 1}', headers=headers) as resp:
        assert resp.status == 400
        text = await resp.text()
    assert "rmp-plain" not in text
    await asyncio.sleep(0.1)
    assert not _tracebacks(caplog), [r.getMessage() for r in _tracebacks(caplog)]
    metrics = gw.gateway.metrics.render().decode()
    assert 'rampart_gateway_rejected_total{reason="body_malformed"} 1.0' in metrics
