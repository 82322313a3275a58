"""Per-request CPU of the ``seclang`` engine against the ``crs`` engine (libmodsecurity), on the
same requests, at paranoia 1 and 4.

Request sets: the benign and the attack stages of a CRS version's regression suite (every Nth
stage, run with CRS's test setup), and "typical" application traffic (a browser GET with a
query, a 30-field JSON POST, a 20-field form POST). Each round sends every request of a set
through each engine in turn, so machine noise hits all engines alike; the figures are medians
over rounds of the mean process CPU time per request, and ratios to ``crs``. ``seclang
fast=False`` is the SecLang engine without its fast path (every rule evaluated on every value).

``--cold`` empties the SecLang engine's cross-request caches of per-value answers
(:class:`~rampart.gateway.engines.native.seclang.executor.ValueCaches`) before every request,
so no value is ever seen again (the emptying is counted in its cost): what a stream of
never-repeated values would cost.

``python -m benchmarks.seclang_vs_crs_cost --crs-version 3.3.4 [--sample 300] [--rounds 3]
[--paranoia 1 4] [--cold]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

from rampart import accel
from rampart.attacks.ftw.runner import CRS_VERSIONS, classify, load_tests, stage_request, test_settings
from rampart.gateway.engines.native.seclang.engine import SecLangEngine
from rampart.gateway.model import RawRequest, Verdict

__all__ = ["main", "measure", "typical_requests"]

_HEADERS = (
    ("Host", "shop.example"),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en-US,en;q=0.5"),
    ("Accept-Encoding", "gzip, deflate"),
    ("Cookie", "session=abc123def456; theme=dark"),
    ("Connection", "keep-alive"),
)


def typical_requests() -> list[RawRequest]:
    """A browser GET, a JSON POST and a form POST, all benign."""
    body = json.dumps({f"field{i}": f"value number {i} with some text" for i in range(30)}).encode()
    form = "&".join(f"name{i}=hello+world+{i}" for i in range(20)).encode()
    return [
        RawRequest("GET", "/api/products?category=shoes&page=2&sort=price", _HEADERS),
        RawRequest(
            "POST",
            "/api/orders",
            (*_HEADERS, ("Content-Type", "application/json"), ("Content-Length", str(len(body)))),
            body,
        ),
        RawRequest(
            "POST",
            "/login",
            (
                *_HEADERS,
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Content-Length", str(len(form))),
            ),
            form,
        ),
    ]


def measure(
    engines: dict[str, Callable[[RawRequest], Verdict]], requests: list[RawRequest], rounds: int
) -> dict[str, float]:
    """Median over ``rounds`` of the mean process CPU microseconds per request, per engine."""
    samples: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, inspect in engines.items():
            start = time.process_time()
            for request in requests:
                inspect(request)
            samples[name].append((time.process_time() - start) / len(requests) * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def _cold(engine: SecLangEngine) -> Callable[[RawRequest], Verdict]:
    """``engine.inspect`` with its cross-request caches emptied before every request."""
    caches = engine.ruleset.caches

    def inspect(request: RawRequest) -> Verdict:
        caches.clear()
        return engine.inspect(request)

    return inspect


def main(argv: list[str] | None = None) -> int:
    """Print the cost table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.seclang_vs_crs_cost", description=__doc__)
    parser.add_argument("--crs-version", choices=tuple(CRS_VERSIONS), default="3.3.4")
    parser.add_argument("--sample", type=int, default=300, help="suite requests per class (every Nth)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paranoia", type=int, nargs="+", default=[1, 4], choices=(1, 2, 3, 4))
    parser.add_argument(
        "--cold", action="store_true", help="empty seclang's cross-request caches before every request"
    )
    args = parser.parse_args(argv)
    version = CRS_VERSIONS[args.crs_version]
    tests = load_tests(version)
    sets: dict[str, list[RawRequest]] = {}
    for kind in ("benign", "attack"):
        stages = [stage_request(s) for t in tests for s in t.stages if classify(t, s) == kind]
        step = max(1, len(stages) // max(1, args.sample))
        sets[f"suite {kind}"] = stages[::step][: args.sample]
    sets["typical"] = typical_requests() * 20
    from rampart.gateway.engines.crs.engine import CrsEngine

    cold = ", seclang caches emptied before every request" if args.cold else ""
    print(f"native engine: {accel.status()}")
    print(
        f"CRS {args.crs_version}, {args.rounds} rounds, process CPU per request (median of round means){cold}"
    )
    print(
        f"{'paranoia':<9}{'requests':<22}{'crs':>10}{'seclang':>10}{'ratio':>8}{'fast=False':>12}{'ratio':>8}"
    )
    for paranoia in args.paranoia:
        with test_settings(version, paranoia) as settings:
            crs = CrsEngine(settings, processes=0)
            fast = SecLangEngine(settings)
            slow = SecLangEngine(settings, fast=False)
            try:
                for label, requests in sets.items():
                    costs = measure(
                        {
                            "crs": crs.inspect,
                            "seclang": _cold(fast) if args.cold else fast.inspect,
                            "slow": slow.inspect,
                        },
                        requests,
                        args.rounds,
                    )
                    base = costs["crs"]
                    print(
                        f"{paranoia:<9}{f'{label} ({len(requests)})':<22}{base:>8.0f}us"
                        f"{costs['seclang']:>8.0f}us{costs['seclang'] / base:>7.2f}x"
                        f"{costs['slow']:>10.0f}us{costs['slow'] / base:>7.2f}x"
                    )
            finally:
                crs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
