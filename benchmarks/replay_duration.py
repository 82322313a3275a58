"""Replay benchmark: how long the whole corpus takes through every configuration.

    .venv/bin/python -m benchmarks.replay_duration [--slice N] [--configs all] [--concurrency 16]

Runs one replay (real lab, gateways and sink guard, started and stopped here) and prints
a Markdown table of each pass: cases, seconds, cases per second, server start-up time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path

from rampart.attacks.corpus import corpus_stats, load_cases
from rampart.attacks.replay.configs import parse_configs
from rampart.attacks.replay.runner import ReplayOptions, replay, select_slice

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--slice", type=int, default=None)
    p.add_argument("--configs", default="all")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--no-block", action="store_true")
    p.add_argument("--out", type=Path, default=None, help="keep records and results here")
    args = p.parse_args(argv)
    cases = select_slice(load_cases(), args.slice)
    configs = tuple(c.name for c in parse_configs(args.configs))
    with tempfile.TemporaryDirectory(prefix="rampart-bench-") as tmp:
        t0 = time.perf_counter()
        result = asyncio.run(
            replay(
                cases,
                ReplayOptions(
                    configs=configs,
                    out_dir=args.out or Path(tmp),
                    concurrency=args.concurrency,
                    block=not args.no_block,
                ),
                corpus=corpus_stats(cases),
            )
        )
        wall = time.perf_counter() - t0
    requests = 0
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"cases: {len(cases)}; configs: {', '.join(configs)}; concurrency {args.concurrency}\n")
    print("| pass | cases | start-up s | replay s | cases/s | transport errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, fig in result.meta["passes"].items():
        requests += fig["cases"]
        print(
            f"| {name} | {fig['cases']} | {fig['startup_s']} | {fig['duration_s']} | "
            f"{fig['cases_per_s']} | {fig['errors']} |"
        )
    print(f"\nwall clock: {wall:.1f} s for {requests} case sends ({requests / wall:.1f} per second overall)")
    for note in result.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
