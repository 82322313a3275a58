"""Requests per second through the gateway when its Redis rate-limit store hangs.

    python -m benchmarks.rate_store_faults --seconds 5 --concurrency 20

Everything runs in this process on loopback: a tiny upstream, a "hung Redis" (a socket that
accepts connections and never answers) and the gateway (testing engine, rate limiting on)
in three configurations: the memory store (baseline); the hung store as the gateway ran it
before the circuit breaker (2 s socket timeouts, no breaker); and the hung store with the
current defaults (0.25 s timeouts, breaker opening after 3 failures). A closed loop of
``concurrency`` clients sends ``GET /`` for ``seconds`` per configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from rampart.gateway.app import build_gateway, create_app
from rampart.gateway.config import load_settings

__all__ = ["main", "run"]

_RULE = {"name": "api", "limit": 10_000_000, "window": 60, "key_by": ["client"]}
CONFIGS: dict[str, dict[str, Any]] = {
    "memory store": {"store": "memory"},
    "hung redis, before (2 s timeouts, no breaker)": {
        "store": "hung",
        "connect_timeout": 2.0,
        "socket_timeout": 2.0,
        "breaker_failures": 0,
    },
    "hung redis, after (defaults: 0.25 s, breaker)": {"store": "hung"},
}


@asynccontextmanager
async def _site(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = getattr(server, "sockets", [])[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def _hung_server() -> AsyncIterator[str]:
    held: list[asyncio.StreamWriter] = []

    async def accept(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0"
    finally:
        for w in held:
            w.close()
        server.close()


async def _load(url: str, seconds: float, concurrency: int) -> int:
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            async with session.get(url + "/") as resp:
                await resp.read()
            done += 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return done


async def run(seconds: float, concurrency: int) -> list[tuple[str, float]]:
    """(configuration, requests/s) for every configuration."""
    upstream = web.Application()

    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    upstream.router.add_get("/", ok)
    out: list[tuple[str, float]] = []
    async with _site(upstream) as upstream_url, _hung_server() as hung:
        for name, config in CONFIGS.items():
            rate_limit = {**config, "enabled": True, "rules": [_RULE], "key_prefix": "rmp-bench:"}
            if rate_limit["store"] == "hung":
                rate_limit["store"] = hung
            settings = load_settings(None, upstream=upstream_url, engines=("testing",), rate_limit=rate_limit)
            gw = build_gateway(settings)
            async with _site(create_app(settings, gateway=gw)) as url:
                start = time.monotonic()
                count = await _load(url, seconds, concurrency)
                out.append((name, count / (time.monotonic() - start)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args(argv)
    for name, rate in asyncio.run(run(args.seconds, args.concurrency)):
        print(f"{name:48} {rate:9.1f} requests/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
