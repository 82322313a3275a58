"""Run the same benign Locust workload against each layer configuration and compare.

Each configuration is started as real processes (:mod:`rampart.topology`), warmed up, then
driven by a headless Locust run bounded in time; the figures go to ``load.json``, which
``rampart report`` folds into ``results.json``'s ``load`` block. Compare the ratios of one
run: absolute figures on a shared 2-core machine move from run to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

from rampart.loadtests.cpu import cpu_seconds, shared_cores_warning, with_descendants
from rampart.loadtests.nginx_peer import start_nginx_peer
from rampart.ports import port_pids
from rampart.procs import spawn
from rampart.topology import CONFIGS, LayerConfig, start_config

__all__ = [
    "PEERS",
    "LoadResult",
    "Target",
    "combine",
    "load_targets",
    "parse_locust_stats",
    "run_load",
    "run_one",
    "write_load_json",
]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# Perimeter peers measured beside the rampart configurations: nginx alone (the ceiling of
# any reverse proxy here) and nginx + ModSecurity v3 + CRS (what most teams run).
PEERS = ("nginx", "nginx+crs")
MAX_DURATION_S = 120.0
MAX_USERS = 200
MAX_ROUNDS = 10
LOAD_FILE = "load.json"
META_FILE = "load-meta.json"


@dataclass(frozen=True, slots=True)
class LoadResult:
    config: str
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    failure_ratio: float
    duration_s: float
    users: int
    rounds: int = 1
    rps_rounds: tuple[float, ...] = ()
    cpu_us_per_request: float | None = None  # the servers' CPU (front + lab) per request


def _num(row: dict[str, str], key: str) -> float:
    raw = row.get(key, "") or "0"
    try:
        return float(raw)
    except ValueError:  # locust writes "N/A" when nothing was measured
        return 0.0


def parse_locust_stats(path: Path, *, config: str, duration_s: float, users: int) -> LoadResult:
    """Read Locust's ``*_stats.csv`` and return its ``Aggregated`` row as a :class:`LoadResult`."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    agg = next((r for r in rows if r.get("Name") == "Aggregated"), None)
    if agg is None:
        raise ValueError(f"{path}: no 'Aggregated' row; did Locust run at all?")
    requests = int(_num(agg, "Request Count"))
    failures = int(_num(agg, "Failure Count"))
    return LoadResult(
        config=config,
        requests=requests,
        failures=failures,
        rps=round(_num(agg, "Requests/s"), 1),
        p50_ms=_num(agg, "50%"),
        p95_ms=_num(agg, "95%"),
        p99_ms=_num(agg, "99%"),
        failure_ratio=round(failures / requests, 4) if requests else 0.0,
        duration_s=duration_s,
        users=users,
    )


async def _warm_up(url: str, n: int = 50) -> None:
    async with aiohttp.ClientSession() as session:
        for i in range(n):
            async with session.get(f"{url}/api/products", params={"category": "books"}) as resp:
                await resp.read()
            if i % 10 == 0:
                async with session.get(f"{url}/greet", params={"name": "warm"}) as resp:
                    await resp.read()


def load_targets(spec: str) -> list[str]:
    """``"none,waf,nginx+crs"`` or ``"all"`` -> names; ``ValueError`` naming unknown ones."""
    from rampart.attacks.replay.peers import IN_APP_PEERS

    known = [*CONFIGS, *PEERS, *IN_APP_PEERS]
    everything = [*CONFIGS, *PEERS]  # "all" leaves out the optional in-app peers
    names = everything if spec.strip() == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown load target(s) {', '.join(unknown)}; use {', '.join(known)} or all")
    return names


@dataclass(frozen=True, slots=True)
class Target:
    """A running load target: where to send traffic and which processes serve it."""

    name: str
    url: str
    pids: tuple[int, ...]  # front server (gateway, nginx or lab) and the lab behind it


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


@contextlib.asynccontextmanager
async def _target(name: str, mode: str) -> AsyncIterator[Target]:
    if name in CONFIGS:
        async with start_config(CONFIGS[name], mode=mode, harness=False) as running:
            pids = {*port_pids(_port(running.url)), *port_pids(_port(running.lab_url))}
            yield Target(name, running.url, tuple(sorted(pids)))
        return
    from rampart.attacks.replay.peers import IN_APP_PEERS, start_in_app_peer

    if name in IN_APP_PEERS:  # a product inside the ASGI lab (rampart.labapp.peers), e.g. aikido
        async with start_in_app_peer(name) as url:
            yield Target(name, url, tuple(sorted(port_pids(_port(url)))))
        return
    async with (
        spawn(["lab", "--port", "0", "--guard", "off"]) as lab,
        start_nginx_peer(lab.url, crs=name == "nginx+crs") as url,
    ):
        yield Target(name, url, tuple(sorted({*port_pids(_port(url)), lab.proc.pid})))


async def run_one(target: Target, *, duration_s: float, users: int, prefix: Path) -> tuple[LoadResult, float]:
    """One bounded headless Locust run against ``target``; Locust's CSV and HTML reports are
    written next to ``prefix``. Returns the figures and the servers' CPU seconds meanwhile."""
    duration_s = min(max(duration_s, 1.0), MAX_DURATION_S)
    users = min(max(users, 1), MAX_USERS)
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{duration_s:g}s",
        "--stop-timeout",
        "2",
        "--host",
        target.url,
        "--csv",
        str(prefix),
        "--html",
        f"{prefix}.html",
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    servers = with_descendants(target.pids)
    cpu_before = cpu_seconds(servers)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "RAMPART_LOOPBACK_ONLY": "1"},
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), duration_s + 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"locust against {target.name} did not stop in time") from None
    cpu = cpu_seconds(servers) - cpu_before
    stats = prefix.with_name(prefix.name + "_stats.csv")
    if not stats.exists():
        raise RuntimeError(f"locust against {target.name} wrote no stats:\n{err.decode()[-2000:]}")
    return parse_locust_stats(stats, config=target.name, duration_s=duration_s, users=users), cpu


def combine(runs: Sequence[tuple[LoadResult, float]]) -> LoadResult:
    """Several rounds of one target as one result: requests and failures summed, req/s the mean,
    percentiles the median over rounds, CPU per request over all rounds."""
    first = runs[0][0]
    requests = sum(r.requests for r, _ in runs)
    failures = sum(r.failures for r, _ in runs)
    cpu = sum(c for _, c in runs)
    return LoadResult(
        config=first.config,
        requests=requests,
        failures=failures,
        rps=round(statistics.fmean(r.rps for r, _ in runs), 1),
        p50_ms=statistics.median(r.p50_ms for r, _ in runs),
        p95_ms=statistics.median(r.p95_ms for r, _ in runs),
        p99_ms=statistics.median(r.p99_ms for r, _ in runs),
        failure_ratio=round(failures / requests, 4) if requests else 0.0,
        duration_s=sum(r.duration_s for r, _ in runs),
        users=first.users,
        rounds=len(runs),
        rps_rounds=tuple(r.rps for r, _ in runs),
        cpu_us_per_request=round(cpu / requests * 1e6, 1) if requests else None,
    )


async def run_load(
    targets: Sequence[str | LayerConfig],
    *,
    duration_s: float = 10.0,
    users: int = 16,
    rounds: int = 2,
    out_dir: Path | None = None,
    mode: str = "block",
    progress: Callable[[str], None] = print,
) -> dict[str, LoadResult]:
    """Start every target, then drive them in turn, ``rounds`` times over (alternating, so
    drifting background load hits each alike). With ``out_dir``: ``load.json``,
    ``load-meta.json`` and Locust's own CSV and HTML reports under ``locust/``."""
    names = [t.name if isinstance(t, LayerConfig) else t for t in targets]
    rounds = min(max(rounds, 1), MAX_ROUNDS)
    warning = shared_cores_warning()
    progress(f"warning: {warning}")
    runs: dict[str, list[tuple[LoadResult, float]]] = {n: [] for n in names}
    with contextlib.ExitStack() as cleanup:
        if out_dir is not None:
            reports = out_dir / "locust"
            reports.mkdir(parents=True, exist_ok=True)
        else:
            reports = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="rampart-load-")))
        async with contextlib.AsyncExitStack() as stack:
            running: list[Target] = []
            for name in names:
                progress(f"starting {name}")
                running.append(await stack.enter_async_context(_target(name, mode)))
            for target in running:
                await _warm_up(target.url)
            for r in range(1, rounds + 1):
                for i, target in enumerate(running, 1):
                    progress(
                        f"load round {r}/{rounds}, {i}/{len(running)}: {target.name} "
                        f"({users} users, {duration_s:g}s)"
                    )
                    prefix = reports / f"{target.name.replace('+', '_')}-r{r}"
                    result, cpu = await run_one(target, duration_s=duration_s, users=users, prefix=prefix)
                    runs[target.name].append((result, cpu))
                    per_req = f", server CPU {cpu / max(result.requests, 1) * 1e6:.0f} µs/req"
                    progress(
                        f"  {result.rps:.0f} req/s, p50 {result.p50_ms:g} ms, p95 {result.p95_ms:g} ms, "
                        f"p99 {result.p99_ms:g} ms, failures {result.failure_ratio:.2%}{per_req}"
                    )
    results = {name: combine(found) for name, found in runs.items()}
    if out_dir is not None:
        write_load_json(results, out_dir / LOAD_FILE)
        meta = {
            "warnings": [warning],
            "rounds": rounds,
            "duration_s": duration_s,
            "users": users,
            "cores": os.cpu_count(),
            "locust_reports": "locust/",
        }
        (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return results


def write_load_json(results: dict[str, LoadResult], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    base = results.get("none")
    payload = {
        name: {
            **asdict(r),
            "rps_ratio_vs_none": round(r.rps / base.rps, 3) if base and base.rps else None,
        }
        for name, r in results.items()
    }
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
