"""Rough per-endpoint throughput of the lab (benign requests), for the load-test baseline.

Run: ``.venv/bin/python -m benchmarks.lab_endpoint_throughput [--seconds 2] [--concurrency 16]``.
It starts a lab in-process (guard off), drives each endpoint for a fixed time from one client, and prints
requests/s and p50/p95 latency. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import aiohttp

from rampart.labapp.lifecycle import start_lab
from rampart.labapp.settings import LabSettings

__all__ = ["main"]

REQUESTS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("L1 login", "POST", "/api/login", {"json": {"username": "alice", "password": "wonderland"}}),
    ("L2 products", "GET", "/api/products", {"params": {"category": "books"}}),
    ("L3 order", "GET", "/api/orders", {"params": {"id": "3"}}),
    ("L4 search", "GET", "/api/orders/search", {"params": {"item": "Pan"}}),
    ("L5 checksum", "GET", "/api/checksum", {"params": {"file": "report.pdf"}}),
    ("L6 preview", "GET", "/api/preview", {"params": {"url": "http://partner.lab.test/"}}),
    ("L7 files", "GET", "/api/files", {"params": {"name": "readme.txt"}}),
    ("L8 greet", "GET", "/greet", {"params": {"name": "Alice"}}),
    ("L10 chat", "POST", "/api/chat", {"json": {"message": "Where is my order?"}}),
    ("L11 render", "POST", "/api/render", {"json": {"template": "Hi {{ user.name }}"}}),
    ("L12 calc", "GET", "/api/calc", {"params": {"expr": "2*(3+4)"}}),
    ("L13 import", "POST", "/api/import", {"data": "a: 1\nb: [1, 2]\n"}),
)


async def _drive(
    session: aiohttp.ClientSession,
    url: str,
    method: str,
    kwargs: dict[str, Any],
    *,
    seconds: float,
    conc: int,
) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            async with session.request(method, url, **kwargs) as resp:
                await resp.read()
                if resp.status >= 400:
                    errors += 1
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(conc)))
    return len(latencies), latencies, errors


async def _run(seconds: float, conc: int) -> None:
    async with start_lab(LabSettings(port=0)) as lab, aiohttp.ClientSession() as session:
        print(f"{'endpoint':<14}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}")
        for name, method, path, kwargs in REQUESTS:
            n, lat, errors = await _drive(session, lab.url + path, method, kwargs, seconds=seconds, conc=conc)
            qs = statistics.quantiles(lat, n=20) if len(lat) > 1 else [0.0] * 19
            print(f"{name:<14}{n / seconds:>9.0f}{qs[9] * 1000:>9.1f}{qs[18] * 1000:>9.1f}{errors:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(_run(min(args.seconds, 30.0), max(1, min(args.concurrency, 256))))


if __name__ == "__main__":
    main()
