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
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

from loadtests.nginx_peer import start_nginx_peer
from rampart.procs import spawn
from rampart.topology import CONFIGS, LayerConfig, start_config

__all__ = [
    "PEERS",
    "LoadResult",
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
    known = [*CONFIGS, *PEERS]
    names = known if spec.strip() == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown load target(s) {', '.join(unknown)}; use {', '.join(known)} or all")
    return names


@contextlib.asynccontextmanager
async def _target(name: str, mode: str) -> AsyncIterator[str]:
    if name in CONFIGS:
        async with start_config(CONFIGS[name], mode=mode, harness=False) as running:
            yield running.url
        return
    async with (
        spawn(["lab", "--port", "0", "--guard", "off"]) as lab,
        start_nginx_peer(lab.url, crs=name == "nginx+crs") as url,
    ):
        yield url


async def run_one(
    name: str, *, duration_s: float, users: int, workdir: Path, mode: str = "block"
) -> LoadResult:
    """Start target ``name``, run Locust against it for ``duration_s`` seconds, return figures."""
    duration_s = min(max(duration_s, 1.0), MAX_DURATION_S)
    users = min(max(users, 1), MAX_USERS)
    async with _target(name, mode) as url:
        await _warm_up(url)
        prefix = workdir / name.replace("+", "_")
        argv = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
            "-u", str(users), "-r", str(users), "-t", f"{duration_s:g}s", "--stop-timeout", "2",
            "--host", url, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
        ]
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
            raise RuntimeError(f"locust against {name} did not stop in time") from None
        stats = prefix.with_name(prefix.name + "_stats.csv")
        if not stats.exists():
            raise RuntimeError(f"locust against {name} wrote no stats:\n{err.decode()[-2000:]}")
        return parse_locust_stats(stats, config=name, duration_s=duration_s, users=users)


async def run_load(
    targets: Sequence[str | LayerConfig],
    *,
    duration_s: float = 10.0,
    users: int = 16,
    out: Path | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, LoadResult]:
    """Run every configuration in turn; write ``out`` (load.json) when given."""
    results: dict[str, LoadResult] = {}
    with tempfile.TemporaryDirectory(prefix="rampart-load-") as tmp:
        for i, target in enumerate(targets, 1):
            name = target.name if isinstance(target, LayerConfig) else target
            progress(f"load {i}/{len(targets)}: {name} ({users} users, {duration_s:g}s)")
            results[name] = await run_one(name, duration_s=duration_s, users=users, workdir=Path(tmp))
            r = results[name]
            progress(f"  {r.rps:.0f} req/s, p50 {r.p50_ms:g} ms, p95 {r.p95_ms:g} ms, "
                     f"p99 {r.p99_ms:g} ms, failures {r.failure_ratio:.2%}")
    if out is not None:
        write_load_json(results, out)
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
