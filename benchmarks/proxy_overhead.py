"""Proxy overhead benchmark: the upstream directly, a bare aiohttp pass-through proxy, and the
gateway (with an engine), measured in one run on loopback, reported as ratios.

    .venv/bin/python -m benchmarks.proxy_overhead --requests 3000 --concurrency 32 --engine testing

Each server runs in its own process (``rampart.procs.spawn``); the client runs here. Bounded
in requests and time. Also times ``engine.inspect`` alone on a small request and a 64 KiB
body, which is what decides inline versus thread-pool inspection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from rampart.procs import spawn

__all__ = ["main"]

_PRODUCTS = json.dumps([{"id": i, "name": f"product {i}", "price": i * 3} for i in range(20)]).encode()
_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "content-length"}
)


# -- servers ------------------------------------------------------------------------------


def _upstream_app() -> web.Application:
    async def products(request: web.Request) -> web.Response:
        return web.Response(body=_PRODUCTS, content_type="application/json")

    async def comments(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({"stored": len(body)}, status=201)

    app = web.Application()
    app.router.add_get("/api/products", products)
    app.router.add_post("/api/comments", comments)
    return app


def _bare_proxy_app(upstream: str) -> web.Application:
    """The floor: forward method, path, headers and body; stream the response back."""
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        app[session_key] = aiohttp.ClientSession(auto_decompress=False)
        yield
        await app[session_key].close()

    async def handle(request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP and k.lower() != "host"}
        body = await request.read()
        async with request.app[session_key].request(
            request.method, upstream + request.raw_path, headers=headers, data=body or None
        ) as up:
            resp = web.StreamResponse(
                status=up.status,
                headers={k: v for k, v in up.headers.items() if k.lower() not in _HOP},
            )
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    app = web.Application()
    app.cleanup_ctx.append(lifecycle)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _serve(name: str, app: web.Application, port: int) -> int:
    from rampart.serve import Listener, run_forever, serve_apps

    async def main() -> None:
        await serve_apps([Listener(app, "127.0.0.1", port, name=name)])

    return run_forever(main)


# -- client -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float  # CPU time of the serving process (the proxy, or the upstream when direct) per request


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class _Samples:
    latencies: list[float]
    elapsed: float = 0.0
    cpu: float = 0.0
    errors: int = 0


async def _load(base: str, *, requests: int, concurrency: int, warmup: int, pid: int, into: _Samples) -> None:
    body = json.dumps({"text": "a perfectly ordinary comment " * 4}).encode()
    headers = {"User-Agent": "bench/1.0", "Accept": "application/json", "Cookie": "session=abc"}
    latencies = into.latencies
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(i: int, record: bool) -> None:
            nonlocal errors
            start = time.perf_counter()
            try:
                if i % 5 == 4:
                    ctx = session.post(
                        base + "/api/comments", data=body, headers={"Content-Type": "application/json"}
                    )
                else:
                    ctx = session.get(base + f"/api/products?category=shoes&page={i % 7}")
                async with ctx as resp:
                    await resp.read()
                    ok = resp.status < 400
            except aiohttp.ClientError:
                ok = False
            if record:
                latencies.append(time.perf_counter() - start)
                errors += not ok

        async def run(count: int, record: bool) -> float:
            queue = iter(range(count))

            async def worker() -> None:
                for i in queue:
                    await one(i, record)

            start = time.perf_counter()
            async with asyncio.timeout(120):
                await asyncio.gather(*(worker() for _ in range(concurrency)))
            return time.perf_counter() - start

        await run(warmup, False)
        cpu = _cpu_seconds(pid)
        into.elapsed += await run(requests, True)
        into.cpu += _cpu_seconds(pid) - cpu
    into.errors += errors


def _result(name: str, s: _Samples) -> Result:
    q = statistics.quantiles(s.latencies, n=100)
    n = len(s.latencies)
    return Result(name, n / s.elapsed, q[49] * 1000, q[98] * 1000, s.errors, s.cpu / n * 1e6)


def _engine_costs(engine_name: str) -> list[tuple[str, float]]:
    """Median microseconds of ``inspect`` alone, on a small GET and on a 64 KiB JSON body."""
    from gateway.engines import create_engine
    from gateway.model import EngineSettings, RawRequest

    engine = create_engine(engine_name, EngineSettings(mode="block"))
    headers = (("Host", "shop"), ("User-Agent", "bench/1.0"), ("Accept", "application/json"))
    small = RawRequest("GET", "/api/products?category=shoes&page=2", headers)
    big_body = json.dumps({"items": [{"name": f"item {i}", "note": "ordinary text"} for i in range(1800)]})
    big = RawRequest(
        "POST", "/api/import", (*headers, ("Content-Type", "application/json")), big_body.encode()[:65536]
    )
    out = []
    for label, request in (("small GET", small), (f"{len(big.body) // 1024} KiB JSON body", big)):
        timings = []
        for _ in range(200):
            start = time.perf_counter()
            engine.inspect(request)
            timings.append(time.perf_counter() - start)
        out.append((label, statistics.median(timings) * 1e6))
    engine.close()
    return out


async def _bench(args: argparse.Namespace) -> str:
    me = [sys.executable, "-m", "benchmarks.proxy_overhead"]
    async with (
        spawn([*me, "serve-upstream"]) as up,
        spawn([*me, "serve-bare", "--upstream", up.url]) as bare,
        spawn(
            [
                "gateway",
                "--upstream",
                up.url,
                "--port",
                "0",
                "--engine",
                args.engine,
                "--mode",
                "block",
                "--admin-port",
                "0",
            ],
            timeout=300,
        ) as gw,
    ):
        targets = [
            ("upstream direct", up),
            ("bare aiohttp proxy", bare),
            (f"gateway ({args.engine}, block)", gw),
        ]
        samples = {name: _Samples([]) for name, _ in targets}
        per_round = args.requests // args.rounds
        for _ in range(args.rounds):  # interleaved, so background load drifts hit every target alike
            for name, server in targets:
                await _load(
                    server.url,
                    requests=per_round,
                    concurrency=args.concurrency,
                    warmup=args.warmup // args.rounds,
                    pid=server.proc.pid,
                    into=samples[name],
                )
        results = [_result(name, samples[name]) for name, _ in targets]
        admin = next(line.split()[2] for line in gw.output if line.startswith("gateway admin: "))
        async with aiohttp.ClientSession() as session, session.get(admin + "/metrics") as resp:
            placement = _placement(await resp.text(), args.engine)
    costs = _engine_costs(args.engine)
    return _report(args, results, costs, placement)


def _placement(metrics: str, engine: str) -> list[tuple[str, int, float]]:
    """(where, inspections, mean µs) of the engine inside the gateway, from its metrics."""
    out = []
    for where in ("inline", "pool"):
        found = {}
        for kind in ("count", "sum"):
            pattern = rf'rampart_gateway_engine_seconds_{kind}{{engine="{engine}",where="{where}"}} (\S+)'
            m = re.search(pattern, metrics)
            found[kind] = float(m.group(1)) if m else 0.0
        if found["count"]:
            out.append((where, int(found["count"]), found["sum"] / found["count"] * 1e6))
    return out


def _report(
    args: argparse.Namespace,
    results: list[Result],
    costs: list[tuple[str, float]],
    placement: list[tuple[str, int, float]],
) -> str:
    direct = results[0]
    bare = results[1]
    lines = [
        "# Gateway proxy overhead",
        "",
        f"Machine: {platform.machine()}, {_cpus()} cores, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}; loopback; all in one run.",
        "",
        "Command:",
        "",
        "```",
        f".venv/bin/python -m benchmarks.proxy_overhead --requests {args.requests} "
        f"--concurrency {args.concurrency} --rounds {args.rounds} "
        f"--engine {args.engine}",
        "```",
        "",
        "Mix: 4 of 5 requests `GET /api/products?category=shoes&page=N` (1.1 KB JSON answer), 1 of 5 "
        "`POST /api/comments` (130-byte JSON). Upstream, bare proxy and gateway each run in their own "
        "process; the client runs in the benchmark process (the 2 cores are shared by all). Targets are "
        "measured in interleaved rounds. *Server CPU µs/req* is the serving process's own CPU time "
        "(utime+stime from /proc) per request: the upstream's for *direct*, the proxy's for the others — "
        "the overhead figure least disturbed by other load on the machine.",
        "",
        "| target | req/s | p50 ms | p99 ms | errors | server CPU µs/req | req/s vs direct | req/s vs bare |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {r.cpu_us:.0f} | "
            f"{r.rps / direct.rps:.2f} | {r.rps / bare.rps:.2f} |"
        )
    lines += ["", f"`{args.engine}` engine, `inspect` alone (median of 200):", ""]
    lines += [f"- {label}: {us:.0f} µs" for label, us in costs]
    lines += ["", "Inside the gateway during the run (from its `/metrics`):", ""]
    lines += [f"- {where}: {n} inspections, mean {us:.0f} µs" for where, n, us in placement]
    lines.append("")
    return "\n".join(lines)


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.proxy_overhead", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    up = sub.add_parser("serve-upstream")
    up.add_argument("--port", type=int, default=0)
    bare = sub.add_parser("serve-bare")
    bare.add_argument("--upstream", required=True)
    bare.add_argument("--port", type=int, default=0)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the targets")
    parser.add_argument("--engine", default="native")
    parser.add_argument("--write", type=Path, help="also write the markdown report to this file")
    args = parser.parse_args(argv)
    if args.command == "serve-upstream":
        return _serve("bench-upstream", _upstream_app(), args.port)
    if args.command == "serve-bare":
        return _serve("bench-proxy", _bare_proxy_app(args.upstream.rstrip("/")), args.port)
    if not 1 <= args.requests <= 20_000 or not 1 <= args.concurrency <= 256:
        parser.error("keep it bounded: --requests 1..20000, --concurrency 1..256")
    report = asyncio.run(_bench(args))
    print(report)
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
