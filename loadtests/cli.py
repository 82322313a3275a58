"""``rampart load``: compare latency and throughput of the layer configurations."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "load",
        help="Locust load comparison of the layer configurations",
        description="Start each configuration, drive it with the same benign Locust workload "
        "(bounded in time), and write load.json (rps, p50/p95/p99, failure ratio).",
    )
    p.add_argument("--configs", default="none,waf,rasp,waf+rasp",
                   help="comma-separated: none, waf, crs, rasp, waf+rasp, crs+rasp, "
                   "nginx, nginx+crs (perimeter peers), or all")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per configuration (max 120)")
    p.add_argument("--users", type=int, default=16, help="concurrent Locust users (max 200)")
    p.add_argument("--out", type=Path, default=Path("report/load.json"))
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from loadtests.runner import load_targets, run_load

    try:
        configs = load_targets(args.configs)
    except ValueError as exc:
        print(f"rampart load: {exc}")
        return 2
    asyncio.run(run_load(configs, duration_s=args.duration, users=args.users, out=args.out))
    print(f"wrote {args.out}")
    return 0
