"""Proxy overhead benchmark: the upstream directly, a bare aiohttp pass-through proxy and the
gateway (test engine, a rule engine — ``rules``, the YAML rules alone, unless ``--engine`` names
another — and that engine at 2 workers), measured with wrk in one run on loopback and reported
as ratios to the bare proxy, with the CPU each stage adds.

    .venv/bin/python -m benchmarks.proxy_overhead --duration 4 --rounds 3
    .venv/bin/python -m benchmarks.proxy_overhead --baseline /tmp/rampart-before
    .venv/bin/python -m benchmarks.proxy_overhead --engine native --compare crs --no-workers [--fresh]

``--fresh`` gives every request a session cookie of its own, so no request repeats an earlier
one (an engine that keeps answers about values met before gets no help from the cookie).

``--baseline DIR`` adds the gateway (test engine, rule engine) as the source tree in DIR has it
(e.g. ``git archive <commit> | tar -x -C DIR``), run from there, so a change is measured
before and after in the same run.

Each server runs in its own process (``rampart.procs.spawn``); wrk (Debian package ``wrk``)
drives them in interleaved rounds, so drifting background load hits every target alike.
Bounded: ``--duration`` seconds per target and round, at most 10 rounds. Also times
``engine.inspect`` alone on the benchmark's own requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from rampart.procs import ServerProcess, spawn

if TYPE_CHECKING:
    from rampart.gateway.model import Verdict

__all__ = ["main"]

_PRODUCTS = json.dumps([{"id": i, "name": f"product {i}", "price": i * 3} for i in range(20)]).encode()
_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "content-length", "host"}
)
_COMMENT = json.dumps({"text": "a perfectly ordinary comment " * 4})
_HEADERS = (("User-Agent", "bench/1.0"), ("Accept", "application/json"), ("Cookie", "session=abc"))
# wrk's request mix: 4 of 5 GET /api/products?category=shoes&page=N, 1 of 5 a JSON comment POST.
# fresh: every request carries its own session cookie (what a cache of earlier requests misses)
_WRK_SCRIPT = """
local n = 0
local body = %s
local fresh = %s
local threads = 0
wrk.headers["User-Agent"] = "bench/1.0"
wrk.headers["Accept"] = "application/json"
wrk.headers["Cookie"] = "session=abc"
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
request = function()
  n = n + 1
  local headers = {}
  if fresh then
    headers["Cookie"] = "session=" .. (tid or 0) .. "z" .. n .. "q" .. (n * 7919 %% 100003)
  end
  if n %% 5 == 0 then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/comments", headers, body)
  end
  return wrk.format("GET", "/api/products?category=shoes&page=" .. (n %% 7), headers)
end
"""


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
    """The floor: forward method, path, headers and body over one pooled session; answer
    with the upstream's status, headers and body (read whole: a streaming twin stopped
    answering after wrk dropped its connections mid-response, see benchmarks.gateway_workers)."""
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


def _serve(name: str, app: web.Application, port: int) -> int:
    """Serve on the gateway's own event loop (uvloop when installed), so the floor and the
    gateway differ only in what they do per request."""
    from rampart.serve import Listener, run_forever, serve_apps

    async def main() -> None:
        await serve_apps([Listener(app, "127.0.0.1", port, name=name)])

    return run_forever(main, fast=True)


# -- measuring ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Round:
    rps: float
    latency_ms: float
    requests: int
    errors: int
    cpu_us: float  # serving processes' CPU per request in this round


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    rounds: tuple[Round, ...]
    stalled: int

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.rounds) if self.rounds else 0.0

    @property
    def cpu_us(self) -> float:
        return statistics.median(r.cpu_us for r in self.rounds) if self.rounds else 0.0

    @property
    def latency_ms(self) -> float:
        return statistics.median(r.latency_ms for r in self.rounds) if self.rounds else 0.0

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.rounds)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(
    url: str, script: Path, *, duration: float, connections: int
) -> tuple[float, float, int, int] | None:
    """(req/s, mean latency ms, requests, non-2xx/3xx or socket errors) of one wrk run; None
    when wrk did not finish in time (the round is dropped and counted as stalled)."""
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 15,
        ).stdout
    except subprocess.TimeoutExpired:
        return None
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rps is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    lat = re.search(r"Latency\s+([\d.]+)(us|ms|s)", out)
    latency = float(lat.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[lat.group(2)] if lat else 0.0
    errors = 0
    for pattern in (
        r"Non-2xx or 3xx responses: (\d+)",
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
    ):
        if m := re.search(pattern, out):
            errors += sum(int(g) for g in m.groups())
    return float(rps.group(1)), latency, int(total.group(1)), errors


async def _worker_pids(server: ServerProcess) -> list[int]:
    """The worker processes of a multi-worker gateway (from its admin /healthz)."""
    admin = next((line.split()[2] for line in server.output if line.startswith("gateway admin: ")), None)
    if admin is None:
        return []
    async with aiohttp.ClientSession() as session, session.get(admin + "/healthz") as resp:
        health = await resp.json()
    return [int(w["pid"]) for w in health.get("workers", [])]


def _engine_costs(engine_name: str) -> list[tuple[str, float]]:
    """Median microseconds of ``inspect`` alone on the benchmark's GET and POST."""
    from rampart.gateway.engines import create_engine
    from rampart.gateway.model import EngineSettings, RawRequest

    engine = create_engine(engine_name, EngineSettings(mode="block"))
    headers = (("Host", "127.0.0.1:8080"), *_HEADERS)
    get = RawRequest("GET", "/api/products?category=shoes&page=2", headers)
    post = RawRequest(
        "POST", "/api/comments", (*headers, ("Content-Type", "application/json")), _COMMENT.encode()
    )
    out = []
    for label, request in (("GET", get), ("POST", post)):
        timings = []
        for _ in range(500):
            start = time.perf_counter()
            engine.inspect(request)
            timings.append(time.perf_counter() - start)
        out.append((label, statistics.median(timings) * 1e6))
    engine.close()
    return out


def _gateways(
    baseline: Path | None, engine: str, workers: bool, compare: tuple[str, ...] = ()
) -> list[tuple[str, list[str]]]:
    """(target name, command line) of every gateway measured. The baseline's runs the CLI
    with the baseline tree first on ``sys.path`` (``python -m`` would put this tree first)."""
    gw = ["gateway", "--port", "0", "--mode", "block", "--admin-port", "0"]
    out: list[tuple[str, list[str]]] = []
    if baseline is not None:
        boot = f"import sys; sys.path.insert(0, {str(baseline.resolve())!r}); from rampart.cli import main; "
        boot += "sys.exit(main())"
        before = [sys.executable, "-c", boot, *gw]
        out += [
            ("baseline gateway, test engine", [*before, "--engine", "testing"]),
            ("baseline gateway, rule engine", [*before, "--engine", engine]),
        ]
    out += [
        ("gateway, test engine", [*gw, "--engine", "testing"]),
        ("gateway, rule engine", [*gw, "--engine", engine]),
    ]
    out += [(f"gateway, {other} engine", [*gw, "--engine", other]) for other in compare]
    if workers:
        out.append(("gateway, rule engine, 2 workers", [*gw, "--engine", engine, "--workers", "2"]))
    return out


async def _stage_costs(upstream: str, engine: str, rounds: int = 2000) -> list[tuple[str, float]]:
    """Median microseconds of each step the gateway adds per request, timed in this process on
    a real request (the benchmark's GET, received by a loopback server) and a real upstream
    answer, each step repeated ``rounds`` times; the engines through the gateway's own runner
    (its metrics included)."""

    from rampart.gateway.app import build_gateway, lean_upstream
    from rampart.gateway.config import load_settings
    from rampart.gateway.decision import RequestFacts, decide
    from rampart.gateway.proxy.handler import ProxyHandler
    from rampart.gateway.proxy.hardening import check_request
    from rampart.requestid import mint_request_id

    def median_us(step: Callable[[], object]) -> float:
        timings = []
        for _ in range(rounds):
            start = time.perf_counter()
            step()
            timings.append(time.perf_counter() - start)
        return statistics.median(timings) * 1e6

    out: list[tuple[str, float]] = []
    gateways = {
        name: build_gateway(load_settings(None, upstream=upstream, engines=(name,), mode="block"))
        for name in ("testing", engine)
    }

    async def measure(request: web.Request) -> web.Response:
        gw = gateways[engine]
        handler = ProxyHandler(gw)
        rid = mint_request_id()
        client = handler._client(request)
        raw = handler._raw_request(request, b"", False, client, rid)
        limits = handler.settings.limits
        out.append(("request id", median_us(mint_request_id)))
        out.append(
            (
                "limits: method, target, header count and size",
                median_us(
                    lambda: check_request(limits, request.method, request.raw_path, request.headers.items())
                ),
            )
        )
        out.append(("client address", median_us(lambda: handler._client(request))))
        out.append(
            (
                "RawRequest for the engines",
                median_us(lambda: handler._raw_request(request, b"", False, client, rid)),
            )
        )
        verdicts: tuple[Verdict, ...] = ()
        for name, each in gateways.items():
            timings = []
            for _ in range(rounds):
                start = time.perf_counter()
                verdicts = await each.runner.inspect(raw)
                timings.append(time.perf_counter() - start)
            label = "test engine" if name == "testing" else f"`{engine}` engine"
            out.append((f"{label}, through the engine runner", statistics.median(timings) * 1e6))
        facts = RequestFacts(rid, client.ip, request.method, request.host, request.path)
        out.append(
            (
                "decision (allow; since the lean path only for a flagged verdict or in harness mode)",
                median_us(
                    lambda: decide(
                        verdicts, mode="block", harness=False, names=(engine,), facts=facts, audit_limit=20
                    )
                ),
            )
        )
        out.append(
            ("upstream request headers", median_us(lambda: handler._upstream_headers(request, client, rid)))
        )
        pool = lean_upstream(gw.settings)
        assert pool is not None
        head = handler._upstream_headers(request, client, rid)
        out.append(
            (
                "upstream request head (lean client)",
                median_us(lambda: pool.head(request.method, request.raw_path, head, None)),
            )
        )
        async with aiohttp.ClientSession() as session, session.get(upstream + request.raw_path) as answer:
            await answer.read()
            extra = {"X-Request-ID": rid}
            items = answer.headers.items()
            out.append(
                ("response headers, hardened", median_us(lambda: handler._response_headers(items, extra)))
            )
        latency, forwarded = gw.metrics.latency, gw.metrics.requests.labels("forwarded")

        def count() -> None:
            latency.observe(0.01)
            forwarded.inc()

        out.append(("metrics: latency and outcome", median_us(count)))
        return web.Response(text="measured")

    app = web.Application()
    app.router.add_get("/{tail:.*}", measure)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        url = f"http://127.0.0.1:{port}/api/products?category=shoes&page=2"
        async with aiohttp.ClientSession() as session, session.get(url, headers=dict(_HEADERS)) as resp:
            await resp.read()
    finally:
        await runner.cleanup()
        for each in gateways.values():
            each.runner.close()
    return out


async def _bench(
    args: argparse.Namespace, script: Path
) -> tuple[list[Result], tuple[float, float], list[tuple[str, float]]]:
    me = [sys.executable, "-m", "benchmarks.proxy_overhead"]
    load_before = os.getloadavg()[0]
    async with contextlib.AsyncExitStack() as stack:
        up = await stack.enter_async_context(spawn([*me, "serve-upstream"]))
        bare = await stack.enter_async_context(spawn([*me, "serve-bare", "--upstream", up.url]))
        servers = {}
        for name, command in _gateways(args.baseline, args.engine, args.workers, tuple(args.compare)):
            servers[name] = await stack.enter_async_context(
                spawn([*command, "--upstream", up.url], timeout=300)
            )
        targets: list[tuple[str, ServerProcess, list[int]]] = [
            ("upstream direct", up, [up.proc.pid]),
            ("bare aiohttp proxy", bare, [bare.proc.pid]),
        ]
        for name, server in servers.items():
            targets.append((name, server, [server.proc.pid, *await _worker_pids(server)]))
        rounds: dict[str, list[Round]] = {name: [] for name, _, _ in targets}
        stalled = dict.fromkeys(rounds, 0)
        for _ in range(args.rounds):
            for name, server, pids in targets:
                _wrk(server.url, script, duration=1, connections=args.connections)  # warm-up
                cpu = sum(_cpu_seconds(p) for p in pids)
                measured = _wrk(server.url, script, duration=args.duration, connections=args.connections)
                spent = sum(_cpu_seconds(p) for p in pids) - cpu
                if measured is None:
                    stalled[name] += 1
                    continue
                rps, latency, n, errors = measured
                rounds[name].append(Round(rps, latency, n, errors, spent / max(n, 1) * 1e6))
        load_after = os.getloadavg()[0]
        stages = await _stage_costs(up.url, args.engine)
    results = [Result(name, tuple(rounds[name]), stalled[name]) for name, _, _ in targets]
    return results, (load_before, load_after), stages


# -- report -------------------------------------------------------------------------------


def _report(
    args: argparse.Namespace,
    results: list[Result],
    load: tuple[float, float],
    costs: list[tuple[str, float]],
    stages: list[tuple[str, float]],
) -> str:
    by = {r.name: r for r in results}
    direct, bare = by["upstream direct"], by["bare aiohttp proxy"]
    noop, native = by["gateway, test engine"], by["gateway, rule engine"]
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    lines = [
        "# Gateway proxy overhead",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, event loop {loop} (bare proxy and gateway alike); "
        f"load average {load[0]:.1f} before, {load[1]:.1f} after; loopback; all in one run.",
        "",
        "Command:",
        "",
        "```",
        f".venv/bin/python -m benchmarks.proxy_overhead --duration {args.duration:g} --rounds {args.rounds} "
        f"--connections {args.connections} --engine {args.engine}"
        + "".join(f" --compare {other}" for other in args.compare)
        + ("" if args.workers else " --no-workers")
        + (" --fresh" if args.fresh else "")
        + (f" --baseline {args.baseline}" if args.baseline else ""),
        "```",
        "",
        f"wrk -t1 -c{args.connections}, {args.rounds} interleaved rounds of {args.duration:g} s per target. "
        "Mix: 4 of 5 requests `GET /api/products?category=shoes&page=N` (1.1 KB JSON answer), 1 of 5 "
        "`POST /api/comments` (130-byte JSON), each with User-Agent, Accept and Cookie headers"
        + (" (`--fresh`: a session cookie of its own in every request). " if args.fresh else ". ")
        + "Gateways in block mode with the default hardening headers, no rate limits, no access log. "
        "req/s, latency and *CPU µs/req* (the serving processes' own utime+stime from /proc per request: "
        "the upstream's for *direct*, the proxy's — supervisor and workers — for the others, never the "
        "upstream's) are medians over the rounds.",
        "",
        "| target | req/s | mean ms | errors | CPU µs/req | req/s vs bare | bare CPU / CPU | rounds' req/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        each = " ".join(f"{x.rps:.0f}" for x in r.rounds) + (f" ({r.stalled} stalled)" if r.stalled else "")
        lines.append(
            f"| {r.name} | {r.rps:.0f} | {r.latency_ms:.2f} | {r.errors} | {r.cpu_us:.0f} | "
            f"{r.rps / max(bare.rps, 1e-9):.2f} | {bare.cpu_us / max(r.cpu_us, 1e-9):.2f} | {each} |"
        )
    lines += [
        "",
        "Per-request CPU each stage adds (differences of the medians above):",
        "",
        f"- proxy hop (bare proxy over the upstream alone): {bare.cpu_us - direct.cpu_us:+.0f} µs",
        f"- gateway machinery and test engine, over the bare proxy: {noop.cpu_us - bare.cpu_us:+.0f} µs",
        f"- the `{args.engine}` engine instead of the test engine: {native.cpu_us - noop.cpu_us:+.0f} µs",
    ]
    for other in args.compare:
        beside = by[f"gateway, {other} engine"]
        lines.append(
            f"- the `{other}` engine instead of the test engine: {beside.cpu_us - noop.cpu_us:+.0f} µs; "
            f"the `{args.engine}` gateway serves {native.rps / max(beside.rps, 1e-9):.2f}x its req/s"
        )
    if "baseline gateway, rule engine" in by:
        before = by["baseline gateway, rule engine"]
        before_noop = by["baseline gateway, test engine"]
        lines += [
            f"- baseline gateway machinery with the test engine: {before_noop.cpu_us - bare.cpu_us:+.0f} µs; "
            f"the `{args.engine}` engine instead: {before.cpu_us - before_noop.cpu_us:+.0f} µs",
        ]
    lines += [
        "",
        f"`{args.engine}` engine, `inspect` alone on the benchmark's requests (median of 500): "
        + ", ".join(f"{label} {us:.0f} µs" for label, us in costs),
        "",
        "Each step the gateway adds, timed alone in the benchmark process on the benchmark's GET "
        "(median of 2000; the bare proxy does none of these):",
        "",
        "| step | µs |",
        "| --- | ---: |",
        *(f"| {label} | {us:.1f} |" for label, us in stages),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.proxy_overhead", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    up = sub.add_parser("serve-upstream")
    up.add_argument("--port", type=int, default=0)
    bare = sub.add_parser("serve-bare")
    bare.add_argument("--upstream", required=True)
    bare.add_argument("--port", type=int, default=0)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of wrk per target and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the targets")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument(
        "--engine", default="rules", help="the rule engine measured beside the test engine (default: rules)"
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="ENGINE",
        help="also measure the gateway with this engine (repeatable; e.g. crs)",
    )
    parser.add_argument(
        "--no-workers", dest="workers", action="store_false", help="leave out the 2-worker gateway"
    )
    parser.add_argument(
        "--baseline", type=Path, help="also measure the gateway of the source tree in this folder"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="every request carries its own session cookie (no two requests are the same)",
    )
    parser.add_argument("--write", type=Path, help="also write the markdown report to this file")
    args = parser.parse_args(argv)
    if args.command == "serve-upstream":
        return _serve("bench-upstream", _upstream_app(), args.port)
    if args.command == "serve-bare":
        return _serve("bench-proxy", _bare_proxy_app(args.upstream.rstrip("/")), args.port)
    if shutil.which("wrk") is None:
        parser.error("needs wrk (apt-get install wrk; scripts/system-deps.sh installs it as root)")
    if args.baseline is not None and not (args.baseline / "gateway" / "app.py").is_file():
        parser.error(f"--baseline {args.baseline}: no gateway/app.py there (unpack a rampart source tree)")
    if not 1 <= args.duration <= 60 or not 1 <= args.rounds <= 10 or not 1 <= args.connections <= 512:
        parser.error("keep it bounded: --duration 1..60, --rounds 1..10, --connections 1..512")
    with tempfile.TemporaryDirectory(prefix="rampart-bench-") as tmp:
        script = Path(tmp) / "mix.lua"
        script.write_text(
            _WRK_SCRIPT % (json.dumps(_COMMENT), "true" if args.fresh else "false"), encoding="utf-8"
        )
        results, load, stages = asyncio.run(_bench(args, script))
    report = _report(args, results, load, _engine_costs(args.engine), stages)
    print(report)
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
