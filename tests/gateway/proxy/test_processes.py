"""Large bodies inspected in worker processes, and the gateway's own wall-clock answer, through
a real gateway on loopback.

Overruns are made certain without timing: the testing engine spins (a busy loop that never
checks a budget, up to a minute) on a marker, so it is past any budget the tests set; it exits
its worker process on another marker. Every test waits until the workers are ready, so the
large bodies really go to a worker (and a marker never runs in the test's own process).
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from rampart.gateway.app import build_gateway, create_app
from rampart.gateway.config import load_settings
from rampart.gateway.engines.testing import LiteralEngine
from rampart.gateway.model import EngineSettings
from rampart.gateway.proxy.inspection import NamedEngine
from tests.gateway.proxy.conftest import MakeGateway, RunningGateway, Upstream

SPIN = "rmp-test-spin"
EXIT = "rmp-test-exit"
_BIG = 100 * 1024  # over engine.process_body_bytes (64 KiB)


def _engine(mode: str = "block") -> NamedEngine:
    settings = EngineSettings(mode=mode)  # type: ignore[arg-type]
    factory = functools.partial(LiteralEngine, settings, name="testing", spin_on=SPIN, exit_on=EXIT)
    return NamedEngine("testing", factory(), factory=factory)


def _body(marker: str = "") -> bytes:
    return b"a" * _BIG + marker.encode()


def _metric(gw: RunningGateway, name: str, **labels: str) -> float:
    text = gw.gateway.metrics.render().decode()
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(re.escape(f"{name}{{{selector}}}" if labels else name) + r" (\S+)", text)
    return float(found.group(1)) if found else 0.0


async def _until(check: Callable[[], bool], seconds: float = 60.0) -> None:
    """Wait (at most ``seconds``) until ``check()`` holds; a readiness wait, not a timing assert."""
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def _start(make_gateway: MakeGateway, mode: str = "block", **engine: Any) -> RunningGateway:
    gw = await make_gateway(engines=[_engine(mode)], mode=mode, harness=True, engine=engine)
    ready = await asyncio.to_thread(gw.gateway.runner.start_processes, wait=True, timeout=120.0)
    assert ready, "the engine worker did not start"
    return gw


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _started(gw: RunningGateway) -> bool:
    pool = gw.gateway.runner.engines[0].processes
    return pool is not None and pool.started


def _pids(gw: RunningGateway) -> list[int]:
    pool = gw.gateway.runner.engines[0].processes
    assert pool is not None
    return pool.worker_pids()


async def test_a_large_body_is_inspected_in_a_worker_process_and_a_small_one_inline(
    make_gateway: MakeGateway, client: aiohttp.ClientSession
) -> None:
    gw = await _start(make_gateway)
    (pid,) = _pids(gw)
    assert pid != os.getpid()
    async with client.post(gw.url + "/api/search", data=_body("<script>")) as resp:
        assert resp.status == 403
        assert resp.headers["X-Rampart-Waf"].startswith("block; score=5; rules=T100")
    async with client.post(gw.url + "/api/search", data=_body()) as resp:
        assert resp.status == 200
    async with client.get(gw.url + "/api/orders?id=<script>") as resp:
        assert resp.status == 403
    counts = {
        w: _metric(gw, "rampart_gateway_engine_seconds_count", engine="testing", where=w)
        for w in ("inline", "pool", "process")
    }
    assert counts == {"inline": 1.0, "pool": 0.0, "process": 2.0}
    assert _pids(gw) == [pid]  # the same worker served both


async def test_a_worker_that_overruns_is_answered_403_killed_and_replaced(
    make_gateway: MakeGateway, client: aiohttp.ClientSession
) -> None:
    gw = await _start(make_gateway, budget_ms=100, overrun_grace_ms=100)
    (pid,) = _pids(gw)
    async with client.post(gw.url + "/api/search", data=_body(SPIN)) as resp:
        assert resp.status == 403
        assert resp.headers["X-Rampart-Waf"] == "block; score=5; rules=budget_exceeded"
    assert _metric(gw, "rampart_gateway_budget_exceeded_total", engine="testing") == 1.0
    await _until(
        lambda: (
            _metric(gw, "rampart_gateway_engine_workers_replaced_total", engine="testing", reason="overran")
            == 1.0
        )
    )
    await _until(lambda: len(_pids(gw)) == 1)
    assert _pids(gw) != [pid]
    await _until(lambda: _gone(pid))  # the spinning worker is gone, not left burning a core
    async with client.post(gw.url + "/api/search", data=_body()) as resp:
        assert resp.status == 200
    async with client.post(gw.url + "/api/search", data=_body("<script>")) as resp:
        assert resp.status == 403
    await _until(
        lambda: _metric(gw, "rampart_gateway_engine_seconds_count", engine="testing", where="process") == 3.0
    )
    assert _metric(gw, "rampart_gateway_budget_exceeded_total", engine="testing") == 1.0  # counted once


@pytest.mark.parametrize(
    ("mode", "over_budget", "decision"), [("detect", "block", "detect"), ("block", "allow", "allow")]
)
async def test_over_budget_passes_in_detect_mode_and_with_over_budget_allow(
    make_gateway: MakeGateway, client: aiohttp.ClientSession, mode: str, over_budget: str, decision: str
) -> None:
    gw = await _start(make_gateway, mode, budget_ms=100, overrun_grace_ms=100, over_budget=over_budget)
    async with client.post(gw.url + "/api/search", data=_body(SPIN)) as resp:
        assert resp.status == 200
        assert resp.headers["X-Rampart-Waf"].startswith(decision + ";")
        assert "budget_exceeded" in resp.headers["X-Rampart-Waf"]
    assert _metric(gw, "rampart_gateway_budget_exceeded_total", engine="testing") == 1.0


async def test_a_crashed_worker_fails_open_is_counted_and_replaced(
    make_gateway: MakeGateway, client: aiohttp.ClientSession
) -> None:
    gw = await _start(make_gateway)
    (pid,) = _pids(gw)
    async with client.post(gw.url + "/api/search", data=_body(EXIT + "<script>")) as resp:
        assert resp.status == 200  # block mode, yet allowed: a crashed detector fails open
        assert resp.headers["X-Rampart-Waf"] == "allow; score=0; rules="
    assert _metric(gw, "rampart_gateway_engine_errors_total", engine="testing") == 1.0
    assert (
        _metric(gw, "rampart_gateway_engine_workers_replaced_total", engine="testing", reason="crashed")
        == 1.0
    )
    await _until(lambda: len(_pids(gw)) == 1)
    assert _pids(gw) != [pid]
    async with client.post(gw.url + "/api/search", data=_body("<script>")) as resp:
        assert resp.status == 403


async def test_a_large_body_that_finds_the_worker_busy_is_inspected_in_a_thread(
    make_gateway: MakeGateway, client: aiohttp.ClientSession
) -> None:
    """It does not wait behind another body. The first body makes its worker sleep (no CPU,
    no budget here, so it is neither answered early nor killed)."""
    from tests.gateway.engines.test_pool import SleepyEngine

    factory = functools.partial(SleepyEngine, EngineSettings(mode="block"), 2.0)
    named = NamedEngine("testing", factory(), factory=factory)
    gw = await make_gateway(engines=[named], mode="block", engine={"budget_ms": 0})
    assert await asyncio.to_thread(gw.gateway.runner.start_processes, wait=True, timeout=120.0)
    pool = named.processes
    assert pool is not None

    async def sleeper() -> int:
        async with client.post(gw.url + "/api/search", data=_body("rmp-test-sleep")) as resp:
            return resp.status

    first = asyncio.create_task(sleeper())
    await _until(lambda: pool.busy == 1)
    async with client.post(gw.url + "/api/search", data=_body("<script>")) as resp:
        assert resp.status == 403
    assert _metric(gw, "rampart_gateway_engine_seconds_count", engine="testing", where="pool") == 1.0
    assert await first == 200
    assert _metric(gw, "rampart_gateway_engine_seconds_count", engine="testing", where="process") == 1.0


async def test_large_bodies_are_inspected_in_process_until_a_worker_is_ready(
    make_gateway: MakeGateway, client: aiohttp.ClientSession
) -> None:
    """The pool starts on the first large body; that body is inspected in a thread meanwhile."""
    gw = await make_gateway(engines=[_engine()], mode="block")
    pool = gw.gateway.runner.engines[0].processes
    assert pool is not None
    assert not _started(gw)
    async with client.post(gw.url + "/api/search", data=_body("<script>")) as resp:
        assert resp.status == 403
    assert _started(gw)
    assert _metric(gw, "rampart_gateway_engine_seconds_count", engine="testing", where="pool") == 1.0
    assert await asyncio.to_thread(pool.wait_ready, 120.0)
    async with client.post(gw.url + "/api/search", data=_body("<script>")) as resp:
        assert resp.status == 403
    assert _metric(gw, "rampart_gateway_engine_seconds_count", engine="testing", where="process") == 1.0


async def test_processes_zero_keeps_large_bodies_in_the_thread_pool(
    make_gateway: MakeGateway, client: aiohttp.ClientSession
) -> None:
    gw = await make_gateway(engines=[_engine()], mode="block", engine={"processes": 0})
    assert gw.gateway.runner.engines[0].processes is None
    async with client.post(gw.url + "/api/search", data=_body("<script>")) as resp:
        assert resp.status == 403
    assert _metric(gw, "rampart_gateway_engine_seconds_count", engine="testing", where="pool") == 1.0


# -- the native engine, built from the gateway's settings in its worker ---------------------

_HEAVY = b"q=" + b"%25" * ((1 << 20) // 3 - 1)  # 1 MiB of percent-escapes
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def native_gateway(upstream: Upstream) -> AsyncIterator[Callable[..., Awaitable[RunningGateway]]]:
    servers: list[TestServer] = []

    async def start(**overrides: Any) -> RunningGateway:
        settings = load_settings(None, upstream=upstream.url, engines=("native",), harness=True, **overrides)
        gw = build_gateway(settings)
        server = TestServer(create_app(settings, gateway=gw), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        assert server.port is not None
        assert await asyncio.to_thread(gw.runner.start_processes, wait=True, timeout=120.0)
        return RunningGateway(str(server.make_url("")).rstrip("/"), "127.0.0.1", server.port, gw, settings)

    yield start
    for server in servers:
        await server.close()


async def test_the_native_engine_runs_in_its_worker_with_the_gateways_settings(
    native_gateway: Callable[..., Awaitable[RunningGateway]], client: aiohttp.ClientSession
) -> None:
    gw = await native_gateway(mode="block", engine={"budget_ms": 1})
    async with client.post(gw.url + "/api/search", data=_HEAVY, headers=_FORM) as resp:
        assert resp.status == 403
        assert "budget_exceeded" in resp.headers["X-Rampart-Waf"]
    sqli = b"q=" + b"x" * _BIG + b"&id=1%27%20UNION%20SELECT%20token%20FROM%20secrets--"
    gw2 = await native_gateway(mode="block", engine={"budget_ms": 0})
    async with client.post(gw2.url + "/api/search", data=sqli, headers=_FORM) as resp:
        assert resp.status == 403
        assert "budget_exceeded" not in resp.headers["X-Rampart-Waf"]
    async with client.post(gw2.url + "/api/search", data=b"q=" + b"shoes+" * 20000, headers=_FORM) as resp:
        assert resp.status == 200
    assert _metric(gw2, "rampart_gateway_engine_seconds_count", engine="native", where="process") == 2.0
    # the over-budget one is timed when its worker answers or is killed, after the 403
    await _until(
        lambda: _metric(gw, "rampart_gateway_engine_seconds_count", engine="native", where="process") == 1.0
    )
