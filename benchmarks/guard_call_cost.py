"""Benchmark: what the sink guard adds (bounded; figures go to docs/BENCHMARKS.md).

1. Per guarded call: pymongo ``AsyncMongoClient.find_one`` against SecantusDB (in its own
   process), inside a request context of 10 user-input fields, guard (block mode) on vs off.
   Calls are interleaved (off, on, off, on...) in one run so drift hits both sides; "off"
   keeps the patches installed with no active guard (the wrappers call straight through).
   A second interleaved series swaps the wrapped methods for the originals on every other
   call: the cost against an unpatched driver. Wall time is dominated by the database round
   trip and its jitter, so the added cost is read from the client process's CPU time per
   call (the guard only adds CPU work in the caller); wall-clock medians, the cost of
   ``Guard.check`` alone, and ``find`` (builds the cursor, no I/O: where ``find_one``'s filter
   is judged) guarded vs unpatched are reported too -- the last is the guard's whole share
   of a ``find_one`` without the round trip's noise.
2. Per guarded SQL call: ``sqlite3`` ``execute`` of a string-built query (in-memory database,
   same 10-field request context), a guarded connection with the guard active against a
   plain ``sqlite3.Connection``, interleaved, client CPU time per call.
3. Per request on the lab: two labs (``--guard off`` and ``--guard block``) started in the
   same run, driven alternately by the same benign request mix for ``--seconds`` each round,
   ``--rounds`` rounds; throughput ratio.

Run: ``.venv/bin/python -m benchmarks.guard_call_cost [--calls 3000] [--seconds 5] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def _context(request_id: str) -> Any:
    from rampart.inprocess.context import RequestContext, UserInput, flatten

    inputs: list[UserInput] = []
    fields = {
        "username": "alice",
        "password": "wonderland",
        "category": "books",
        "q": "web security",
        "page": "2",
        "sort": "price",
        "lang": "en",
        "session": "5f2b9c0e7d1a",
        "ref": "newsletter",
        "note": "please gift-wrap",
    }
    for name, value in fields.items():
        flatten(f"body.{name}", value, inputs)
    return RequestContext(
        request_id=request_id, method="POST", path="/api/login", client_ip="127.0.0.1", inputs=inputs
    )


# SecantusDB runs in its own process: in-process it would share the GIL with the client and
# every round trip would wait on thread switches (milliseconds), drowning the figure.
_SERVER = """
import sys, time
from secantus import SecantusDBServer
server = SecantusDBServer(port=0, storage_path=sys.argv[1], replica_set_name=None)
server.start()
print(server.uri, flush=True)
try:
    while True:
        time.sleep(3600)
finally:
    server.stop()
"""


async def bench_mongo(calls: int) -> dict[str, float]:
    from pymongo import AsyncMongoClient

    from rampart.inprocess import guard as guard_module
    from rampart.inprocess.config import load_settings
    from rampart.inprocess.context import bind
    from rampart.inprocess.guard import Guard
    from rampart.inprocess.install import activate, deactivate

    with tempfile.TemporaryDirectory() as tmp:
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _SERVER, tmp, stdout=asyncio.subprocess.PIPE, start_new_session=True
        )
        assert server.stdout is not None
        uri = (await asyncio.wait_for(server.stdout.readline(), 30)).decode().strip()
        guard = activate(Guard(load_settings(mode="block")), ("mongo",))
        try:
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
            users = client["bench"]["users"]
            await users.insert_one({"username": "alice", "password": "wonderland"})
            query = {"username": "alice", "password": "wonderland"}
            ctx = _context("bench")
            off: list[float] = []
            on: list[float] = []
            cpu_off: list[float] = []
            cpu_on: list[float] = []
            with bind(ctx):
                for _ in range(200):  # warm up both paths
                    await users.find_one(query)
                    guard.check("mongo", "collection.find_one", "nosql", query)
                gc.collect()
                gc.disable()  # collections would land on one side at random
                for i in range(calls * 2):
                    guarded = i % 2 == 1
                    guard_module._active = guard if guarded else None
                    c0 = time.process_time_ns()
                    t0 = time.perf_counter_ns()
                    await users.find_one(query)
                    (on if guarded else off).append((time.perf_counter_ns() - t0) / 1000)
                    (cpu_on if guarded else cpu_off).append((time.process_time_ns() - c0) / 1000)
                # against an unpatched driver: per call, swap the wrapped methods for their
                # originals (a few attribute sets between the timed calls) and back
                swaps = _wrapped_methods()
                bare: list[float] = []
                guarded_cpu: list[float] = []
                for i in range(calls * 2):
                    guarded = i % 2 == 1
                    for cls, name, wrapper, original in swaps:
                        setattr(cls, name, wrapper if guarded else original)
                    guard_module._active = guard if guarded else None
                    c0 = time.process_time_ns()
                    await users.find_one(query)
                    (guarded_cpu if guarded else bare).append((time.process_time_ns() - c0) / 1000)
                # the guard's share without the round trip: ``find`` only builds a cursor (no
                # I/O), and its wrapper is where ``find_one``'s filter is judged
                find_bare: list[float] = []
                find_guarded: list[float] = []
                for i in range(calls * 2):
                    guarded = i % 2 == 1
                    for cls, name, wrapper, original in swaps:
                        setattr(cls, name, wrapper if guarded else original)
                    guard_module._active = guard if guarded else None
                    t0 = time.perf_counter_ns()
                    users.find(query)
                    (find_guarded if guarded else find_bare).append((time.perf_counter_ns() - t0) / 1000)
                for cls, name, wrapper, _original in swaps:
                    setattr(cls, name, wrapper)
                gc.enable()
                guard_module._active = guard
                check_times: list[float] = []
                for _ in range(calls):
                    t0 = time.perf_counter_ns()
                    guard.check("mongo", "collection.find_one", "nosql", query)
                    check_times.append((time.perf_counter_ns() - t0) / 1000)
            await client.close()
        finally:
            deactivate(guard)
            server.terminate()
            await server.wait()
    pairs = [b - a for a, b in zip(off, on, strict=True)]
    return {
        "calls": float(calls),
        "client_cpu_off_median_us": statistics.median(cpu_off),
        "client_cpu_on_median_us": statistics.median(cpu_on),
        "client_cpu_added_us": statistics.median(cpu_on) - statistics.median(cpu_off),
        "unpatched_cpu_median_us": statistics.median(bare),
        "guarded_cpu_median_us": statistics.median(guarded_cpu),
        "added_vs_unpatched_us": statistics.median(guarded_cpu) - statistics.median(bare),
        "off_median_us": statistics.median(off),
        "on_median_us": statistics.median(on),
        "added_median_of_pairs_us": statistics.median(pairs),
        "added_difference_of_medians_us": statistics.median(on) - statistics.median(off),
        "check_only_median_us": statistics.median(check_times),
        "find_no_io_unpatched_median_us": statistics.median(find_bare),
        "find_no_io_guarded_median_us": statistics.median(find_guarded),
        "find_no_io_added_us": statistics.median(find_guarded) - statistics.median(find_bare),
    }


def bench_sql(calls: int) -> dict[str, float]:
    import sqlite3

    from rampart.inprocess.config import load_settings
    from rampart.inprocess.context import bind
    from rampart.inprocess.guard import Guard
    from rampart.inprocess.install import activate, deactivate

    plain = sqlite3.connect(":memory:")
    guard = activate(Guard(load_settings(mode="block")), ("sql",))
    try:
        guarded = sqlite3.connect(":memory:")
        for conn in (plain, guarded):
            conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT, password TEXT)")
            conn.execute("INSERT INTO users (username, password) VALUES ('alice', 'wonderland')")
        query = "SELECT id FROM users WHERE username = 'alice' AND password = 'wonderland'"
        off: list[float] = []
        on: list[float] = []
        with bind(_context("bench-sql")):
            for _ in range(500):
                plain.execute(query).fetchall()
                guarded.execute(query).fetchall()
            gc.collect()
            gc.disable()
            for i in range(calls * 2):
                conn = guarded if i % 2 else plain
                c0 = time.perf_counter_ns()
                conn.execute(query).fetchall()
                (on if i % 2 else off).append((time.perf_counter_ns() - c0) / 1000)
            gc.enable()
    finally:
        deactivate(guard)
    return {
        "calls": float(calls),
        "unguarded_median_us": statistics.median(off),
        "guarded_median_us": statistics.median(on),
        "added_median_us": statistics.median(on) - statistics.median(off),
    }


def _wrapped_methods() -> list[tuple[type, str, Any, Any]]:
    """(class, name, wrapper, original) for every pymongo async method the guard wrapped."""
    from pymongo.asynchronous.collection import AsyncCollection
    from pymongo.asynchronous.command_cursor import AsyncCommandCursor
    from pymongo.asynchronous.cursor import AsyncCursor

    found: list[tuple[type, str, Any, Any]] = []
    for cls in (AsyncCollection, AsyncCursor, AsyncCommandCursor):
        for name, fn in list(vars(cls).items()):
            original = getattr(fn, "__rampart_original__", None)
            if original is not None:
                found.append((cls, name, fn, original))
    return found


BENIGN: Sequence[tuple[str, str, dict[str, Any]]] = (
    ("POST", "/api/login", {"json": {"username": "alice", "password": "wonderland"}}),
    ("GET", "/api/products", {"params": {"category": "books"}}),
    ("GET", "/api/orders", {"params": {"id": "3"}}),
    ("GET", "/api/orders/search", {"params": {"item": "Pan"}}),
    ("GET", "/api/files", {"params": {"name": "readme.txt"}}),
    ("GET", "/greet", {"params": {"name": "Alice"}}),
    ("GET", "/api/calc", {"params": {"expr": "2*(3+4)"}}),
    ("GET", "/api/comments", {}),
)


async def _drive(session: Any, base: str, seconds: float, concurrency: int) -> int:
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        i = offset
        while time.monotonic() < deadline:
            method, path, kwargs = BENIGN[i % len(BENIGN)]
            async with session.request(method, base + path, **kwargs) as resp:
                await resp.read()
                if resp.status >= 500:
                    raise RuntimeError(f"{path}: HTTP {resp.status}")
            done += 1
            i += 1

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return done


async def bench_lab(seconds: float, rounds: int, concurrency: int) -> dict[str, float]:
    import aiohttp

    from rampart.procs import spawn

    async with contextlib.AsyncExitStack() as stack:
        plain, guarded = await asyncio.gather(
            stack.enter_async_context(spawn(["lab", "--port", "0"])),
            stack.enter_async_context(spawn(["lab", "--port", "0", "--guard", "block"])),
        )
        session = await stack.enter_async_context(aiohttp.ClientSession())
        await _drive(session, plain.url, 1.0, concurrency)
        await _drive(session, guarded.url, 1.0, concurrency)
        totals = {"off": 0, "block": 0}
        cpu = {"off": 0.0, "block": 0.0}
        for r in range(rounds):
            order = (("off", plain), ("block", guarded))
            for name, server in order if r % 2 == 0 else tuple(reversed(order)):
                before = _cpu_seconds(server.proc.pid)
                totals[name] += await _drive(session, server.url, seconds, concurrency)
                cpu[name] += _cpu_seconds(server.proc.pid) - before
    span = seconds * rounds
    off_rps, block_rps = totals["off"] / span, totals["block"] / span
    off_cpu = 1e3 * cpu["off"] / max(totals["off"], 1)
    block_cpu = 1e3 * cpu["block"] / max(totals["block"], 1)
    return {
        "seconds_each": span,
        "concurrency": float(concurrency),
        "off_rps": off_rps,
        "block_rps": block_rps,
        "throughput_cost_pct": 100.0 * (1 - block_rps / off_rps),
        "off_lab_cpu_ms_per_request": off_cpu,
        "block_lab_cpu_ms_per_request": block_cpu,
        "cpu_cost_pct": 100.0 * (block_cpu / off_cpu - 1),
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` (all its threads), from /proc (Linux)."""
    import os

    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=3000, help="find_one calls per side (max 20000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per lab round per side (max 30)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating lab rounds (max 10)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--skip-lab", action="store_true")
    args = parser.parse_args(argv)
    calls = max(100, min(args.calls, 20_000))
    mongo = asyncio.run(bench_mongo(calls))
    print("mongo find_one (10-field request context, guard block vs off, interleaved):")
    for key, value in mongo.items():
        print(f"  {key}: {value:.2f}")
    sql = bench_sql(calls)
    print("sqlite execute + fetchall (10-field request context, guarded vs plain connection, interleaved):")
    for key, value in sql.items():
        print(f"  {key}: {value:.2f}")
    if not args.skip_lab:
        lab = asyncio.run(bench_lab(min(args.seconds, 30.0), max(1, min(args.rounds, 10)), args.concurrency))
        print("lab benign mix (guard block vs off, alternating rounds):")
        for key, value in lab.items():
            print(f"  {key}: {value:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
