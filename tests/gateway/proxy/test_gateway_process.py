"""``rampart gateway`` as a real process: its own parser-error page through the runner it is
served with, and SIGHUP reopening the audit log after an external rotation."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import aiohttp
import pytest

from rampart.incidents import read_incidents
from rampart.procs import spawn

pytestmark = [pytest.mark.system]


async def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` (a file, another process's output: nothing to await) until true."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s")


async def test_real_gateway_error_page_and_sighup_reopen(upstream, tmp_path) -> None:
    audit = tmp_path / "audit.jsonl"
    args = ["gateway", "--upstream", upstream.url, "--port", "0", "--engine", "testing", "--mode", "block"]
    args += ["--audit-log", str(audit)]
    async with spawn(args, timeout=60) as gw, aiohttp.ClientSession() as session:
        port = int(gw.url.rsplit(":", 1)[1].rstrip("/"))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /x HTTP/1.1\r\nHost: x\r\nAuthorization Bearer rmp-secret-9\r\n\r\n")
        raw = await asyncio.wait_for(reader.read(65536), 5)
        writer.close()
        assert raw.split(b" ", 2)[1] == b"400"
        assert b"rmp-secret-9" not in raw
        assert b"aiohttp" not in raw
        assert b"X-Request-ID: " in raw
        assert b"X-Content-Type-Options: nosniff" in raw

        async with session.get(gw.url + "/?q=%3Cscript%3E", headers={"X-Request-ID": "hup-1"}) as resp:
            assert resp.status == 403
        await _wait_for(lambda: audit.exists() and audit.stat().st_size > 0)
        audit.rename(tmp_path / "audit.jsonl.1")
        os.kill(gw.proc.pid, signal.SIGHUP)
        await _wait_for(lambda: any("logs_reopened" in line for line in gw.output))
        async with session.get(gw.url + "/?q=%3Cscript%3E", headers={"X-Request-ID": "hup-2"}) as resp:
            assert resp.status == 403
        await _wait_for(audit.exists)
        await _wait_for(lambda: audit.stat().st_size > 0)
    assert [i.request_id for i in read_incidents(tmp_path / "audit.jsonl.1")] == ["hup-1"]
    assert [i.request_id for i in read_incidents(audit)] == ["hup-2"]
