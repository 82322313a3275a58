"""Benchmark of the native engine's ``inspect`` on fixed requests (bounded in count and time).

Run: ``.venv/bin/python -m benchmarks.native_engine_cost [--iterations N] [--seconds S] [--paranoia P]``.
Prints median and p99 microseconds per request kind; the first call per kind is a warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence

from rampart.gateway.engines.native.engine import NativeEngine
from rampart.gateway.model import EngineSettings, RawRequest

__all__ = ["BENCH_REQUESTS", "main", "measure"]

_BROWSER_HEADERS: tuple[tuple[str, str], ...] = (
    ("Host", "shop.lab.test"),
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    ),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en-GB,en;q=0.9"),
    ("Accept-Encoding", "gzip, deflate, br"),
    ("Referer", "http://shop.lab.test/"),
    ("Cookie", "session=3f2a9c1e7b; theme=dark"),
    ("Connection", "keep-alive"),
)


def _json_post_1k() -> RawRequest:
    body = {
        "text": "Great product! I bought it for my dad (O'Brien family tradition) and he loves it. "
        "We compared it with the union-made one; select models cost $12.50 more. " * 2,
        "author": {"name": "Siobhán O'Brien", "email": "siobhan@example.com", "id": 4242},
        "tags": ["gift", "kitchen", "5-stars"],
        "rating": 5,
        "meta": {"source": "web", "ref": "http://partner.lab.test/products?id=3", "lang": "en"},
        "items": [{"sku": f"SKU-{i:04d}", "qty": i, "price": "$19.99"} for i in range(6)],
    }
    raw = json.dumps(body).encode()
    headers = (*_BROWSER_HEADERS[:3], ("Content-Type", "application/json"), ("Content-Length", str(len(raw))))
    return RawRequest(method="POST", target="/api/comments", headers=headers, body=raw)


BENCH_REQUESTS: dict[str, RawRequest] = {
    "benign GET": RawRequest(
        method="GET", target="/api/products?category=kitchen&page=2", headers=_BROWSER_HEADERS
    ),
    "1 KB JSON POST": _json_post_1k(),
    "attack GET (sqli)": RawRequest(
        method="GET",
        target="/api/orders/search?item=%25%27%20UNION%20SELECT%20id,token,name%20FROM%20secrets--",
        headers=_BROWSER_HEADERS,
    ),
}


def measure(
    engine: NativeEngine, request: RawRequest, iterations: int, seconds: float
) -> tuple[list[float], list[float]]:
    """Wall-clock and thread-CPU microseconds per ``inspect`` call, at most ``iterations`` calls or
    ``seconds`` of wall time. CPU time is the steadier figure on a shared machine."""
    engine.inspect(request)
    wall: list[float] = []
    cpu: list[float] = []
    deadline = time.perf_counter() + seconds
    for _ in range(iterations):
        started_cpu = time.thread_time_ns()
        started = time.perf_counter_ns()
        engine.inspect(request)
        wall.append((time.perf_counter_ns() - started) / 1000)
        cpu.append((time.thread_time_ns() - started_cpu) / 1000)
        if time.perf_counter() > deadline:
            break
    return wall, cpu


def reference_us(rounds: int = 200) -> float:
    """Median microseconds of a fixed pure-Python loop, measured in the same run: engine figures
    divided by it are comparable across machines and across loads on a shared machine."""
    samples: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter_ns()
        total = 0
        for i in range(1000):
            total += i
        samples.append((time.perf_counter_ns() - started) / 1000)
    return statistics.median(samples)


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=5.0, help="time bound per request kind")
    parser.add_argument("--paranoia", type=int, default=1, choices=(1, 2, 3, 4))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    engine = NativeEngine(EngineSettings(paranoia=args.paranoia))
    print(
        f"engine: {engine.active_rule_count} active rules of {len(engine.rules)} (paranoia {args.paranoia}), "
        f"built in {time.perf_counter() - started:.2f} s"
    )
    reference = reference_us()
    print(f"reference loop (1000 additions): {reference:.1f} us")
    for name, request in BENCH_REQUESTS.items():
        wall, cpu = measure(engine, request, args.iterations, args.seconds)
        verdict = engine.inspect(request)
        wall_median = statistics.median(wall)
        rules = ",".join(verdict.rule_ids) or "-"
        print(
            f"{name:18s} n={len(wall):5d}  wall median={wall_median:7.1f} p99={_p99(wall):8.1f} us"
            f"  cpu median={statistics.median(cpu):7.1f} p99={_p99(cpu):8.1f} us"
            f"  ({wall_median / reference:.1f}x ref)"
            f"  -> {'flagged' if verdict.flagged else 'allow'} score={verdict.score} rules={rules}"
        )
    engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
