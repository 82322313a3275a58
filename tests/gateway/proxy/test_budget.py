"""The inspection budget and the lock-free native engine, through a real gateway on loopback."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from rampart.gateway.app import build_gateway, create_app
from rampart.gateway.config import load_settings
from rampart.gateway.proxy.inspection import NamedEngine
from tests.gateway.proxy.conftest import MakeGateway, RunningGateway, Upstream, literal, literal_engine

# 1 MiB of "%25" as a form value: several URL-decoding rounds over the whole value per group.
_HEAVY = b"q=" + b"%25" * ((1 << 20) // 3 - 1)
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}

StartNative = Callable[..., Awaitable[RunningGateway]]


@pytest.fixture
async def start_native(upstream: Upstream) -> AsyncIterator[StartNative]:
    """A gateway whose native engine is built from its own settings (``engine.budget_ms``...)."""
    servers: list[TestServer] = []

    async def start(**overrides: Any) -> RunningGateway:
        settings = load_settings(None, upstream=upstream.url, engines=("native",), **overrides)
        gw = build_gateway(settings)
        server = TestServer(create_app(settings, gateway=gw), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        assert server.port is not None
        return RunningGateway(str(server.make_url("")).rstrip("/"), "127.0.0.1", server.port, gw, settings)

    yield start
    for server in servers:
        await server.close()


def _offloaded(named: NamedEngine) -> bool:
    return named.offload


def _metric(gw: RunningGateway, pattern: str) -> float:
    found = re.search(pattern + r" (\S+)", gw.gateway.metrics.render().decode())
    return float(found.group(1)) if found else 0.0


async def test_an_over_budget_request_is_blocked_counted_and_named(
    start_native: StartNative, client: aiohttp.ClientSession
) -> None:
    # 50 ms: the 1 MiB body needs seconds of CPU; a first (cold) benign GET with CRS loaded needs
    # 1-4 ms on a quiet machine, and a 5 ms budget refused it once on a loaded CI machine
    gw = await start_native(mode="block", harness=True, engine={"budget_ms": 50})
    async with client.post(gw.url + "/api/search", data=_HEAVY, headers=_FORM) as resp:
        assert resp.status == 403
        assert "budget_exceeded" in resp.headers["X-Rampart-Waf"]
    async with client.get(gw.url + "/api/orders?id=42") as resp:
        assert resp.status == 200
    assert _metric(gw, r'rampart_gateway_budget_exceeded_total\{engine="native"\}') == 1.0


async def test_over_budget_allow_forwards_the_request(
    start_native: StartNative, client: aiohttp.ClientSession
) -> None:
    gw = await start_native(mode="block", harness=True, engine={"budget_ms": 50, "over_budget": "allow"})
    async with client.post(gw.url + "/api/search", data=_HEAVY, headers=_FORM) as resp:
        assert resp.status == 200
        assert resp.headers["X-Rampart-Waf"].startswith("allow;")
    assert _metric(gw, r'rampart_gateway_budget_exceeded_total\{engine="native"\}') == 1.0


async def test_a_benign_request_is_answered_while_a_heavy_body_is_inspected(
    start_native: StartNative, client: aiohttp.ClientSession
) -> None:
    """No global engine lock: small GETs run inline on the loop while the 1 MiB body is inspected
    in a worker thread (no budget here, so that inspection runs to its end)."""
    gw = await start_native(mode="block", engine={"budget_ms": 0})
    assert gw.gateway.runner.engines[0].shared  # thread_safe: no lock around its calls
    finished: dict[str, float] = {}

    async def heavy() -> int:
        async with client.post(gw.url + "/api/search", data=_HEAVY, headers=_FORM) as resp:
            finished["heavy"] = time.perf_counter()
            return resp.status

    native = gw.gateway.runner.engines[0]
    started = time.perf_counter()
    task = asyncio.create_task(heavy())
    for _ in range(3000):  # wait (30 s at most) until the body is in the worker pool
        if native.in_pool or task.done():
            break
        await asyncio.sleep(0.01)
    in_pool = native.in_pool
    latencies: list[float] = []
    for _ in range(5):
        sent = time.perf_counter()
        async with client.get(gw.url + "/api/orders?id=42") as resp:
            assert resp.status == 200
        latencies.append(time.perf_counter() - sent)
    finished["benign"] = time.perf_counter()
    assert await task == 200
    heavy_seconds = finished["heavy"] - started
    if in_pool == 0:
        pytest.skip(f"the heavy inspection ended ({heavy_seconds:.2f} s) before the benign requests")
    assert finished["benign"] < finished["heavy"]
    assert max(latencies) < heavy_seconds / 2


async def test_an_engine_that_recovers_from_a_burst_comes_back_inline(
    make_gateway: MakeGateway, client: aiohttp.ClientSession
) -> None:
    named: NamedEngine = literal_engine(delay=0.003)  # 3 ms per request, not declared slow
    gw = await make_gateway(engines=[named], engine={"offload_after_us": 1000})
    for _ in range(8):
        async with client.get(gw.url + "/x") as resp:
            assert resp.status == 200
    assert _offloaded(named)
    literal(named).delay = 0.0
    for _ in range(12):  # the share falls from ~0.57 by a tenth per fast call: below 0.2 after 10
        async with client.get(gw.url + "/x") as resp:
            assert resp.status == 200
    assert not _offloaded(named)
    async with client.get(gw.url + "/x") as resp:
        assert resp.status == 200
    inline = _metric(gw, r'rampart_gateway_engine_seconds_count\{engine="testing",where="inline"\}')
    assert inline >= 8.0  # seven before the move, at least one after the return
