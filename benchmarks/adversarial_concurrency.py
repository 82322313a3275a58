"""Does one adversarial body delay everyone else? Benign GET latency through the gateway (native
engine, block mode) while a 100 KB or 1 MiB adversarial body is being inspected.

    .venv/bin/python -m benchmarks.adversarial_concurrency [--budget-ms 250] [--idle 200]

A trivial upstream and the gateway run in their own processes on loopback; the client runs
here. Per gateway configuration, first the idle latency of sequential benign GETs; then, per
adversarial body, the body is sent and benign GETs go one after another until its answer
arrives (at least ``--during`` of them): their p50/p95/max, and the adversarial request's own
status and answer time against the budget. Three configurations in one run: large bodies
inspected in a thread of the gateway (``engine.processes=0``, the earlier design) and in a
worker process (``engine.processes=1``, the default), both with the budget, and the worker
process without a budget (``budget_ms=0``: the inspection runs to its end).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from rampart.procs import spawn

__all__ = ["main"]

_BENIGN = "/api/products?category=shoes&page=2"
_ADVERSARIAL: tuple[tuple[str, str, int], ...] = (
    ("<a", "json", 100_000),
    ("<a", "json", 1 << 20),
    ("%25", "form", 1 << 20),
    ("/*", "json", 1 << 20),
)


def _upstream_app() -> web.Application:
    async def products(request: web.Request) -> web.Response:
        return web.json_response([{"id": i, "name": f"product {i}"} for i in range(10)])

    async def search(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({"received": len(body)})

    app = web.Application(client_max_size=4 << 20)
    app.router.add_get("/api/products", products)
    app.router.add_post("/api/search", search)
    return app


def _serve_upstream() -> int:
    from rampart.serve import Listener, run_forever, serve_apps

    async def main() -> None:
        await serve_apps([Listener(_upstream_app(), "127.0.0.1", 0, name="upstream")])

    return run_forever(main)


def _body(unit: str, kind: str, size: int) -> tuple[bytes, str]:
    """A body of exactly ``size`` bytes holding one value of ``unit`` repeated."""
    if kind == "form":
        value = (unit * size)[: size - 2]
        return ("q=" + value).encode(), "application/x-www-form-urlencoded"
    value = (unit * size)[: size - 9]
    return ('{"q": "' + value + '"}').encode(), "application/json"


@dataclass(frozen=True)
class Row:
    scenario: str
    where: str
    budget_ms: float
    status: int
    answer_s: float
    benign: tuple[float, ...]
    stopped_by: str = "-"  # who cut an over-budget inspection: engine, worker or gateway
    killed: int = 0  # worker processes killed (overran) while this body was handled


def _stats(samples: Sequence[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return statistics.median(ordered) * 1000, p95 * 1000, ordered[-1] * 1000


async def _benign_once(session: aiohttp.ClientSession, base: str) -> float:
    start = time.perf_counter()
    async with session.get(base + _BENIGN) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"benign GET answered {resp.status}")
    return time.perf_counter() - start


async def _during(
    session: aiohttp.ClientSession, base: str, body: bytes, content_type: str, least: int
) -> tuple[int, float, list[float]]:
    """Send ``body``; meanwhile benign GETs, one after another, until it is answered."""
    started = time.perf_counter()

    async def adversarial() -> tuple[int, float]:
        async with session.post(base + "/api/search", data=body, headers={"Content-Type": content_type}) as r:
            await r.read()
            return r.status, time.perf_counter() - started

    task = asyncio.create_task(adversarial())
    await asyncio.sleep(0.005)  # let the body leave first
    latencies: list[float] = []
    while not task.done() or len(latencies) < least:
        latencies.append(await _benign_once(session, base))
    status, answer = await task
    return status, answer, latencies


async def _settle(session: aiohttp.ClientSession, base: str, pause: float) -> None:
    """A benign large body (it starts the worker process on first use), then a pause: a worker
    starting or being replaced builds its engine meanwhile."""
    body, content_type = _body("shoes ", "form", 100_000)
    async with session.post(base + "/api/search", data=body, headers={"Content-Type": content_type}) as r:
        await r.read()
    await asyncio.sleep(pause)


async def _run_gateway(args: argparse.Namespace, upstream: str, processes: int, budget: float) -> list[Row]:
    env = {
        "RAMPART_GATEWAY_ENGINE__BUDGET_MS": str(budget),
        "RAMPART_GATEWAY_ENGINE__PROCESSES": str(processes),
    }
    argv = ["gateway", "--upstream", upstream, "--port", "0", "--engine", "native", "--mode", "block"]
    where = "process" if processes else "thread"
    rows: list[Row] = []
    async with spawn(argv, env=env, timeout=300) as gw, aiohttp.ClientSession() as session:
        for _ in range(20):
            await _benign_once(session, gw.url)  # warm-up
        await _settle(session, gw.url, args.pause)
        idle = [await _benign_once(session, gw.url) for _ in range(args.idle)]
        rows.append(Row("idle", where, budget, 200, 0.0, tuple(idle)))
        for unit, kind, size in _ADVERSARIAL:
            body, content_type = _body(unit, kind, size)
            seen = len(gw.output)
            status, answer, benign = await _during(session, gw.url, body, content_type, args.during)
            label = f"{size // 1024} KiB {kind} of {unit!r}"
            await _settle(session, gw.url, args.pause)
            logged = gw.output[seen:]  # the gateway's log lines meanwhile (warnings and up)
            by = [m.group(1) for line in logged if (m := re.search(r"engine_over_budget .*\bby=(\w+)", line))]
            killed = sum("engine_worker_replaced" in line and "reason=overran" in line for line in logged)
            rows.append(Row(label, where, budget, status, answer, tuple(benign), ",".join(by) or "-", killed))
    return rows


def _report(rows: list[Row]) -> str:
    lines = [
        "adversarial body vs concurrent benign GETs (gateway: native engine, block mode)",
        f"machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), "
        f"Python {platform.python_version()}",
        "",
        f"{'scenario':<28} {'where':>8} {'budget':>7} {'status':>6} {'answer s':>9} "
        f"{'benign n':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cut by':>8} {'killed':>6}",
    ]
    for row in rows:
        p50, p95, worst = _stats(row.benign)
        budget = "none" if row.budget_ms == 0 else f"{row.budget_ms:g}ms"
        answer = "-" if row.scenario == "idle" else f"{row.answer_s:.3f}"
        lines.append(
            f"{row.scenario:<28} {row.where:>8} {budget:>7} {row.status:>6} {answer:>9} "
            f"{len(row.benign):>8} {p50:>8.2f} {p95:>8.2f} {worst:>8.2f} {row.stopped_by:>8} {row.killed:>6}"
        )
    return "\n".join(lines)


async def _bench(args: argparse.Namespace) -> str:
    me = [sys.executable, "-m", "benchmarks.adversarial_concurrency"]
    rows: list[Row] = []
    async with spawn([*me, "serve-upstream"]) as up:
        for processes, budget in ((0, args.budget_ms), (1, args.budget_ms), (1, 0.0)):
            rows += await _run_gateway(args, up.url, processes, budget)
    return _report(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.adversarial_concurrency", description=__doc__)
    parser.add_argument("command", nargs="?", default="bench", choices=("bench", "serve-upstream"))
    parser.add_argument("--budget-ms", type=float, default=250.0, help="the gateway's engine.budget_ms")
    parser.add_argument("--idle", type=int, default=200, help="benign GETs measured with no other load")
    parser.add_argument("--during", type=int, default=20, help="benign GETs at least per adversarial body")
    parser.add_argument(
        "--pause", type=float, default=8.0, help="seconds between bodies (a worker process (re)starting)"
    )
    args = parser.parse_args(argv)
    if args.command == "serve-upstream":
        return _serve_upstream()
    if args.budget_ms <= 0:
        parser.error("--budget-ms must be positive (the run without a budget is always included)")
    print(asyncio.run(_bench(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
