"""Gateway throughput and CPU per request at 1 and 2 workers, beside the upstream alone and a
bare aiohttp pass-through proxy, all measured in one run with wrk on loopback.

    .venv/bin/python -m benchmarks.gateway_workers --duration 5 --rounds 3 --connections 32

wrk (Debian package ``wrk``) drives each target in interleaved rounds, so drifting
background load hits every target alike. *CPU µs/req* is the serving processes' own CPU
time (utime+stime from /proc: the proxy, or the gateway's supervisor plus its workers) per
request; the upstream's CPU is not counted for the proxies. On a 2-core machine wrk, the
upstream and the proxy share the cores, so the 2-worker figure is a lower bound of what two
free cores would give; compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from rampart.procs import ServerProcess, spawn

__all__ = ["main"]

_PATH = "/api/products?category=shoes&page=2"
_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "content-length", "host"}
)


def _bare_proxy(upstream: str) -> web.Application:
    """The floor: forward method, path, headers and body; answer with the upstream's.

    It reads the whole upstream answer before replying: ``benchmarks.proxy_overhead``'s streaming
    twin stops answering after wrk drops its connections mid-response (seen here: every
    round after the first served 0 requests), which would make the floor meaningless."""
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def lifecycle(app: web.Application) -> Any:
        app[session_key] = aiohttp.ClientSession(auto_decompress=False)
        yield
        await app[session_key].close()

    async def handle(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        body = await request.read()
        async with request.app[session_key].request(
            request.method, upstream + request.raw_path, headers=headers, data=body or None
        ) as up:
            payload = await up.read()
            kept = {k: v for k, v in up.headers.items() if k.lower() not in _HOP}
            return web.Response(status=up.status, body=payload, headers=kept)

    app = web.Application()
    app.cleanup_ctx.append(lifecycle)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@dataclass(frozen=True, slots=True)
class Measured:
    name: str
    rps: float  # median over rounds
    latency_ms: float  # median of the rounds' means
    requests: int
    errors: int
    cpu_us: float  # over all rounds
    rounds: tuple[float, ...]  # req/s of each completed round
    stalled: int  # rounds where wrk did not finish in time


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(
    url: str, *, duration: float, connections: int, threads: int
) -> tuple[float, float, int, int] | None:
    """(req/s, mean latency ms, requests, non-2xx or socket errors) of one wrk run; None when
    wrk did not finish in time (seen on a heavily loaded machine: the round is dropped)."""
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", url + _PATH],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 15,
        ).stdout
    except subprocess.TimeoutExpired:
        return None
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = re.search(r"Latency\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    latency = float(lat.group(1)) * scale[lat.group(2)] if lat else 0.0
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (
        r"Non-2xx or 3xx responses: (\d+)",
        r"Socket errors: connect (\d+), read (\d+), "
        r"write (\d+), timeout (\d+)",
    ):
        if m := re.search(pattern, out):
            errors += sum(int(g) for g in m.groups())
    return rps, latency, total, errors


async def _worker_pids(server: ServerProcess) -> list[int]:
    admin = next((line.split()[2] for line in server.output if line.startswith("gateway admin: ")), None)
    if admin is None:
        return []
    async with aiohttp.ClientSession() as session, session.get(admin + "/healthz") as resp:
        health = await resp.json()
    return [int(w["pid"]) for w in health.get("workers", [])]


async def _bench(args: argparse.Namespace) -> str:
    me = [sys.executable, "-m", "benchmarks.proxy_overhead"]
    gw = ["gateway", "--port", "0", "--engine", args.engine, "--mode", "block", "--admin-port", "0"]
    async with (
        spawn([*me, "serve-upstream"]) as up,
        spawn([sys.executable, "-m", "benchmarks.gateway_workers", "--serve-bare", up.url]) as bare,
        spawn([*gw, "--upstream", up.url], timeout=300) as one,
        spawn([*gw, "--upstream", up.url, "--workers", "2"], timeout=300) as two,
    ):
        targets: list[tuple[str, ServerProcess, list[int]]] = [
            ("upstream direct", up, [up.proc.pid]),
            ("bare aiohttp proxy", bare, [bare.proc.pid]),
            (f"gateway {args.engine}, 1 worker", one, [one.proc.pid]),
            (f"gateway {args.engine}, 2 workers", two, [two.proc.pid, *await _worker_pids(two)]),
        ]
        rps_of: dict[str, list[float]] = {name: [] for name, _, _ in targets}
        lat_of: dict[str, list[float]] = {name: [] for name, _, _ in targets}
        totals = {name: [0, 0, 0.0] for name, _, _ in targets}
        stalled = dict.fromkeys(rps_of, 0)
        for _ in range(args.rounds):
            for name, server, pids in targets:
                _wrk(server.url, duration=1, connections=args.connections, threads=args.threads)
                cpu = sum(_cpu_seconds(p) for p in pids)
                measured = _wrk(
                    server.url, duration=args.duration, connections=args.connections, threads=args.threads
                )
                if measured is None:
                    stalled[name] += 1
                    continue
                rps, lat, n, errors = measured
                rps_of[name].append(rps)
                lat_of[name].append(lat)
                t = totals[name]
                t[0] += n
                t[1] += errors
                t[2] += sum(_cpu_seconds(p) for p in pids) - cpu
    results = [
        Measured(
            name,
            statistics.median(rps_of[name] or [0.0]),
            statistics.median(lat_of[name] or [0.0]),
            int(t[0]),
            int(t[1]),
            t[2] / max(t[0], 1) * 1e6,
            tuple(rps_of[name]),
            stalled[name],
        )
        for name, t in totals.items()
    ]
    return _report(args, results)


def _report(args: argparse.Namespace, results: list[Measured]) -> str:
    bare = results[1]
    one = results[2]
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    lines = [
        "# Gateway workers",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, gateway loop {loop}; wrk -t{args.threads} -c{args.connections}, "
        f"{args.rounds} interleaved rounds of {args.duration:g}s; loopback; all in one run.",
        "",
        "Command:",
        "",
        "```",
        f".venv/bin/python -m benchmarks.gateway_workers --duration {args.duration:g} --rounds {args.rounds} "
        f"--connections {args.connections} --threads {args.threads} --engine {args.engine}",
        "```",
        "",
        f"Every request `GET {_PATH}` (1.1 KB JSON answer from a bare aiohttp upstream). req/s and "
        "latency are medians over the rounds (a round that stalls on a loaded machine does not drag "
        "the figure; each round's req/s is listed); CPU is over all rounds.",
        "",
        "| target | req/s | mean ms | errors | CPU µs/req | vs bare | vs 1 worker | rounds' req/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        each = " ".join(f"{x:.0f}" for x in r.rounds) + (f" ({r.stalled} stalled)" if r.stalled else "")
        lines.append(
            f"| {r.name} | {r.rps:.0f} | {r.latency_ms:.2f} | {r.errors} | {r.cpu_us:.0f} | "
            f"{r.rps / max(bare.rps, 1e-9):.2f} | {r.rps / max(one.rps, 1e-9):.2f} | {each} |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.gateway_workers", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of wrk per target and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the targets")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--engine", default="native", help="gateway engine")
    parser.add_argument("--write", type=Path, help="also write the markdown report to this file")
    parser.add_argument("--serve-bare", metavar="UPSTREAM", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        from rampart.serve import Listener, run_forever, serve_apps

        app = _bare_proxy(args.serve_bare.rstrip("/"))
        return run_forever(lambda: serve_apps([Listener(app, "127.0.0.1", 0, name="bench-proxy")]))
    if shutil.which("wrk") is None:
        parser.error("needs wrk (apt-get install wrk; scripts/system-deps.sh installs it as root)")
    if not 1 <= args.duration <= 60 or not 1 <= args.rounds <= 10 or not 1 <= args.connections <= 512:
        parser.error("keep it bounded: --duration 1..60, --rounds 1..10, --connections 1..512")
    report = asyncio.run(_bench(args))
    print(report)
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
