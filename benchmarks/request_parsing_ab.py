"""A/B benchmark of the request parser: this checkout's
``rampart.gateway.engines.native.parsing`` against another
checkout's file, loaded side by side and timed interleaved in one process (drift on a shared
machine hits both sides; compare the ratio, not the microseconds).

Run: ``.venv/bin/python -m benchmarks.request_parsing_ab --against ../main/gateway/engines/native/parsing.py``
(``git show main:gateway/engines/native/parsing.py > /tmp/p.py`` gives the file without a checkout).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType

from benchmarks.native_engine_cost import BENCH_REQUESTS
from rampart.gateway.engines.native import parsing
from rampart.gateway.model import RawRequest

__all__ = ["main", "measure"]

_FORM = RawRequest(
    method="POST",
    target="/api/login",
    headers=(("Content-Type", "application/x-www-form-urlencoded"),),
    body=b"username=alice&password=correct+horse+battery&remember=1",
)


def _load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_parsing_other", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"bench_parsing: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def measure(
    a: Callable[[RawRequest], object], b: Callable[[RawRequest], object], request: RawRequest, rounds: int
) -> tuple[float, float]:
    """Median microseconds per call of ``a`` and ``b``, interleaved in batches of 20."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for fn, acc in ((a, times[0]), (b, times[1])):
            start = time.perf_counter_ns()
            for _ in range(20):
                fn(request)
            acc.append((time.perf_counter_ns() - start) / 20 / 1000)
    return tuple(sorted(t)[len(t) // 2] for t in times)  # type: ignore[return-value]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--against", required=True, help="the other checkout's gateway/engines/native/parsing.py")
    p.add_argument("--rounds", type=int, default=300)
    args = p.parse_args(argv)
    other = _load(args.against)
    requests = {**BENCH_REQUESTS, "form POST": _FORM}
    out = {}
    for name, request in requests.items():
        theirs, ours = measure(other.parse_request, parsing.parse_request, request, args.rounds)
        out[name] = {
            "other_us": round(theirs, 1),
            "this_us": round(ours, 1),
            "ratio": round(ours / theirs, 2),
        }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
