"""Per-request cost of the ``seclang`` engine against the ``crs`` engine, on the same requests.

The requests are the attack and benign stages of a CRS version's regression suite, run with
CRS's test setup (paranoia 4). Each round sends every request through each engine in turn,
so machine noise hits all engines alike; the figures are medians over rounds of the mean
cost per request, and ratios to ``crs``.

``python -m benchmarks.seclang_vs_crs_cost --crs-version 3.3.4 [--sample 400] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

from attacks.ftw.runner import CRS_VERSIONS, classify, load_tests, stage_request, test_settings
from gateway.model import RawRequest, Verdict

__all__ = ["main", "measure"]


def measure(
    engines: dict[str, Callable[[RawRequest], Verdict]], requests: list[RawRequest], rounds: int
) -> dict[str, float]:
    """Median over ``rounds`` of the mean microseconds per request, per engine."""
    samples: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, inspect in engines.items():
            start = time.perf_counter()
            for request in requests:
                inspect(request)
            samples[name].append((time.perf_counter() - start) / len(requests) * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    """Print the cost table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.seclang_vs_crs_cost", description=__doc__)
    parser.add_argument("--crs-version", choices=tuple(CRS_VERSIONS), default="3.3.4")
    parser.add_argument("--sample", type=int, default=400, help="requests (every Nth stage of the suite)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    version = CRS_VERSIONS[args.crs_version]
    stages = [
        stage_request(stage)
        for test in load_tests(version)
        for stage in test.stages
        if classify(test, stage) in ("attack", "benign")
    ]
    step = max(1, len(stages) // max(1, args.sample))
    requests = stages[::step][: args.sample]
    from gateway.engines.crs.engine import CrsEngine
    from gateway.engines.native.seclang.engine import SecLangEngine

    with test_settings(version, 4) as settings:
        crs = CrsEngine(settings, processes=0)
        fast = SecLangEngine(settings)
        slow = SecLangEngine(settings, fast=False)
        try:
            costs = measure(
                {"crs": crs.inspect, "seclang": fast.inspect, "seclang fast=False": slow.inspect},
                requests,
                args.rounds,
            )
        finally:
            crs.close()
    print(f"CRS {args.crs_version}, paranoia 4, {len(requests)} requests of its regression suite, ", end="")
    print(f"{args.rounds} rounds")
    base = costs["crs"]
    for name, cost in costs.items():
        print(f"  {name:<24}{cost:>10.0f} us/request  {cost / base:>6.1f}x crs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
