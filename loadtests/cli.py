"""``rampart load``: compare latency and throughput of the layer configurations."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "load",
        help="Locust load comparison of the layer configurations",
        description="Start each configuration, drive them in turn with the same benign Locust workload "
        "(bounded in time, alternating over several rounds), and write DIR/load.json (req/s, "
        "p50/p95/p99, failure ratio, server CPU per request), DIR/load-meta.json and Locust's own "
        "CSV and HTML reports under DIR/locust/.",
    )
    p.add_argument(
        "--configs",
        default="none,waf,rasp,waf+rasp",
        help="comma-separated: none, waf, crs, rasp, waf+rasp, crs+rasp, "
        "nginx, nginx+crs (perimeter peers), or all",
    )
    p.add_argument(
        "--duration", type=float, default=10.0, help="seconds per configuration and round (max 120)"
    )
    p.add_argument(
        "--rounds", type=int, default=2, help="times over every configuration, alternating (max 10)"
    )
    p.add_argument("--users", type=int, default=16, help="concurrent Locust users (max 200)")
    p.add_argument("--mode", choices=("detect", "block"), default="block", help="mode of the layers")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("report"),
        metavar="DIR",
        help="folder for load.json and Locust's reports (like replay --out)",
    )
    p.set_defaults(func=_run)


def summary_table(results: dict[str, Any]) -> str:
    """Requests per second beside the servers' CPU per request, one row per configuration."""
    base = results.get("none")
    head = ("configuration", "req/s", "p95 ms", "failures", "CPU µs/req", "vs none")
    rows = ["{:<14} {:>8} {:>8} {:>9} {:>11} {:>8}".format(*head)]
    for name, r in results.items():
        cpu = f"{r.cpu_us_per_request:.0f}" if r.cpu_us_per_request is not None else "n/a"
        ratio = f"{r.rps / base.rps:.2f}" if base is not None and base.rps else "n/a"
        rows.append(f"{name:<14} {r.rps:>8.1f} {r.p95_ms:>8g} {r.failure_ratio:>9.2%} {cpu:>11} {ratio:>8}")
    return "\n".join(rows)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from rampart.loadtests.runner import load_targets, run_load

    try:
        configs = load_targets(args.configs)
    except ValueError as exc:
        print(f"rampart load: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    if out.suffix == ".json" or (out.exists() and not out.is_dir()):
        print(
            f"rampart load: --out names a folder (load.json and Locust's reports go inside it), "
            f"got {out}; try --out {out.parent if out.suffix == '.json' else out.with_suffix('')}",
            file=sys.stderr,
        )
        return 2
    try:
        results = asyncio.run(
            run_load(
                configs,
                duration_s=args.duration,
                users=args.users,
                rounds=args.rounds,
                out_dir=out,
                mode=args.mode,
            )
        )
    except (RuntimeError, OSError) as exc:
        print(f"rampart load: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rampart load: interrupted; every process it started has been stopped", file=sys.stderr)
        return 130
    print(summary_table(results))
    print(f"wrote {out / 'load.json'}, {out / 'load-meta.json'} and Locust's reports in {out / 'locust'}")
    return 0
