"""The report in a real headless Chromium, driven over the DevTools protocol: it renders
without console errors or exceptions, draws its charts, the filter box filters, the
payloads do not run, and a screenshot is kept as a test artifact."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

pytestmark = [pytest.mark.system]


class DevTools:
    """A minimal DevTools-protocol client over one page websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            else:
                self.events.append(data)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        mid = next(self.ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[mid] = fut
        await self.ws.send_json({"id": mid, "method": method, "params": params})
        reply = await asyncio.wait_for(fut, 30)
        assert "error" not in reply, reply
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def eval(self, expr: str) -> Any:
        res = await self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in res, res
        return res["result"].get("value")

    async def wait_event(self, method: str, timeout: float = 30) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for ev in self.events:
                    if ev.get("method") == method:
                        return ev
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def browser(chromium: str, profile: Path) -> AsyncIterator[DevTools]:
    proc = await asyncio.create_subprocess_exec(
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        "--window-size=1280,2000",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(60):
            while True:
                line = (await proc.stderr.readline()).decode(errors="replace")
                assert line, "chromium exited before DevTools was listening"
                if m := re.search(r"DevTools listening on (ws://127\.0\.0\.1:(\d+)/\S+)", line):
                    port = int(m.group(2))
                    break
        drain = asyncio.create_task(proc.stderr.read())
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = await resp.json()
            page = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                dt = DevTools(ws)
                try:
                    yield dt
                finally:
                    dt.reader.cancel()
        drain.cancel()
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def test_report_renders_and_filters(
    report_dir: Path, chromium: str, artifacts_dir: Path, tmp_path: Path
) -> None:
    async with browser(chromium, tmp_path / "profile") as dt:
        await dt.call("Runtime.enable")
        await dt.call("Log.enable")
        await dt.call("Page.enable")
        await dt.call(
            "Emulation.setDeviceMetricsOverride", width=1280, height=2000, deviceScaleFactor=1, mobile=False
        )
        await dt.call("Page.navigate", url=(report_dir / "index.html").as_uri())
        await dt.wait_event("Page.loadEventFired")

        charts = await dt.eval("document.querySelectorAll('svg.chart').length")
        assert charts >= 6
        total = await dt.eval("document.querySelectorAll('#cases-table tbody tr').length")
        assert total == 69
        visible = (
            "Array.from(document.querySelectorAll('#cases-table tbody tr')).filter(r => !r.hidden).length"
        )
        assert await dt.eval(visible) == total

        await dt.eval(
            "(() => { const q = document.getElementById('case-filter'); q.value = 'ssrf-00';"
            " q.dispatchEvent(new Event('input')); })()"
        )
        narrowed = await dt.eval(visible)
        assert 0 < narrowed < total
        assert await dt.eval("document.getElementById('case-count').textContent") == str(narrowed)

        await dt.eval(
            "(() => { const q = document.getElementById('case-filter'); q.value = '';"
            " q.dispatchEvent(new Event('input')); const c = document.getElementById('case-class');"
            " c.value = 'benign'; c.dispatchEvent(new Event('change')); })()"
        )
        assert await dt.eval(visible) == 20

        # the payloads are text, never markup
        assert await dt.eval("window.__pwned === undefined")
        assert await dt.eval("document.querySelectorAll('#cases-table img').length") == 0

        shot = await dt.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        (artifacts_dir / "report.png").write_bytes(base64.b64decode(shot["data"]))

        errors = [
            ev
            for ev in dt.events
            if ev.get("method") == "Runtime.exceptionThrown"
            or (ev.get("method") == "Runtime.consoleAPICalled" and ev["params"].get("type") == "error")
            or (ev.get("method") == "Log.entryAdded" and ev["params"]["entry"].get("level") == "error")
        ]
        assert errors == []
    assert (artifacts_dir / "report.png").stat().st_size > 10_000
