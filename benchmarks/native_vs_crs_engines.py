"""Inspection cost of the native and CRS engines on the same requests, in one run.

    .venv/bin/python -m benchmarks.native_vs_crs_engines [--engines native,crs] [--rounds 300]
        [--max-seconds 60] [--paranoia 1] [--clock wall|cpu] [--block 1] [--json out.json]

Each round inspects every request once with every engine (interleaved, so all engines see
the same machine load; ``--block N``: N times in a row per engine, timed as one sample); the
table gives median and p95 microseconds per request and the ratio of each engine's median to
the first engine's. The last rows are requests that differ in every inspection (a new
session cookie, query value or JSON field each time: :data:`FRESH_REQUESTS`), built before the
clock starts: what an engine's caches have not met before. ``--clock cpu`` times the inspecting thread's
CPU (``time.thread_time_ns``) instead of the wall clock. Engine names are the registry's:
``native`` (CRS on the SecLang executor plus the YAML rules), ``rules`` (the YAML rules
alone), ``seclang`` (CRS alone on the SecLang executor), ``crs`` (CRS on libmodsecurity).
``crs:N`` measures the CRS engine in N worker processes (:mod:`rampart.gateway.engines.crs.pool`),
inter-process hand-off included.

``--gil`` checks whether an engine releases the GIL while it works: a pure-Python counter
runs on the main thread alone, then while a worker thread inspects in a loop. A ratio near
1.0 means the GIL is released (a thread frees the event loop); well below 0.5 means it is
held (a worker thread only interleaves with the loop, it adds no capacity).
Bounded in rounds and seconds; it sends no network traffic.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rampart import accel
from rampart.gateway.model import EngineSettings, InspectionEngine, RawRequest

__all__ = ["BENCH_REQUESTS", "FRESH_REQUESTS", "Figures", "field_sweep", "gil_ratio", "main", "measure"]

_HEADERS: tuple[tuple[str, str], ...] = (
    ("Host", "127.0.0.1:8080"),
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) rampart-bench"),
    ("Accept", "application/json, text/html;q=0.9"),
    ("Accept-Language", "en-GB,en;q=0.8"),
)


def _json_post(path: str, value: object) -> RawRequest:
    body = json.dumps(value).encode()
    headers = (*_HEADERS, ("Content-Type", "application/json"), ("Content-Length", str(len(body))))
    return RawRequest("POST", path, headers, body)


def _comment_of(size: int) -> dict[str, object]:
    sentence = "these running shoes fit well and the colour is lovely, would buy again. "
    text = (sentence * (size // len(sentence) + 1))[: max(size - 50, 0)]
    return {"author": "alice", "rating": 5, "text": text}


BENCH_REQUESTS: dict[str, RawRequest] = {
    "benign GET": RawRequest("GET", "/api/products?category=shoes", _HEADERS),
    "1 KB JSON POST": _json_post("/api/comments", _comment_of(1024)),
    "16 KB JSON POST": _json_post("/api/comments", _comment_of(16 * 1024)),
    "JSON, 100 short fields": _json_post("/api/comments", {f"f{i}": f"value {i}" for i in range(100)}),
    "attack: SQLi query": RawRequest("GET", "/api/orders/search?item=1'%20OR%20'1'='1", _HEADERS),
    "attack: XSS query": RawRequest("GET", "/greet?name=%3Cscript%3Ealert(1)%3C/script%3E", _HEADERS),
    "attack: cmd injection": RawRequest("GET", "/api/checksum?file=a.txt;cat%20/etc/passwd", _HEADERS),
    "attack: traversal": RawRequest("GET", "/api/files?name=../../etc/passwd", _HEADERS),
    "attack: JSON NoSQL": _json_post("/api/login", {"username": "admin", "password": {"$ne": "x"}}),
}


def _token(n: int) -> str:
    return f"{n:08x}{(n * 2654435761) % 2**32:08x}"


def _new_cookie(n: int) -> RawRequest:
    """The benign GET as one visitor among many: its own session cookie and page."""
    return RawRequest(
        "GET", f"/api/products?category=shoes&page={n % 7}", (*_HEADERS, ("Cookie", f"session={_token(n)}"))
    )


def _new_query(n: int) -> RawRequest:
    """The benign GET with a value no earlier request had (a search term, an id)."""
    return RawRequest("GET", f"/api/products?category=shoes&ref={_token(n)}", _HEADERS)


def _new_comment(n: int) -> RawRequest:
    """The 1 KB JSON POST with a text no earlier request had."""
    return _json_post("/api/comments", {**_comment_of(1024), "author": f"user-{_token(n)}"})


def _new_form(n: int) -> RawRequest:
    """A 20-field JSON body (an order, a profile form) whose values recur but one, a token."""
    fields: dict[str, object] = {f"field{i}": f"value {i}" for i in range(19)}
    return _json_post("/api/orders", {**fields, "token": _token(n)})


def _new_fields(n: int) -> RawRequest:
    """A 100-field JSON body whose every value is new (the worst case for the caches)."""
    return _json_post("/api/comments", {f"f{i}": f"value {i} of {_token(n)}" for i in range(100)})


# the load test's benign mix (loadtests/locustfile.py: a read-heavy shop): (weight, GET path
# before its value, the values it takes in turn); then 2 logins and 1 comment in 19 requests
_LAB_GETS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (6, "/api/products?category=", ("books", "garden", "kitchen")),
    (3, "/api/orders?id=", ("1", "2", "3", "4", "5", "6", "7")),
    (2, "/api/orders/search?item=", ("Hub", "Pan", "Knife")),
    (2, "/greet?name=", ("Alice", "Chlo%C3%A9", "O%27Brien")),
    (1, "/api/files?name=", ("readme.txt", "guides/getting-started.md")),
    (1, "/api/checksum?file=", ("invoice-1001.txt",)),
    (1, "/api/calc?expr=", ("2*(3%2B4)",)),
)


def _lab_mix(n: int) -> RawRequest:
    """The ``n``-th request of the load test's benign mix (its comment text carries a counter,
    as Locust's does)."""
    slot = (n * 7) % 19
    for weight, path, values in _LAB_GETS:
        if slot < weight:
            return RawRequest("GET", path + values[n % len(values)], _HEADERS)
        slot -= weight
    if slot < 2:
        return _json_post("/api/login", {"username": "alice", "password": "not-her-password"})
    text = f"Great lamp, would buy again (review {n}). Select the union of comfort and price!"
    return _json_post("/api/comments", {"text": text})


# requests that differ in every inspection: what the engines' cross-request caches do not see
# again (rampart's native engine keeps answers about values and collections met before); the
# last, the load test's mix in turn, repeats most of its requests
FRESH_REQUESTS: dict[str, Callable[[int], RawRequest]] = {
    "benign GET, new cookie each time": _new_cookie,
    "benign GET, new query value each time": _new_query,
    "1 KB JSON POST, new author each time": _new_comment,
    "JSON, 20 fields, a new token each time": _new_form,
    "JSON, 100 fields, all new each time": _new_fields,
    "the load test's benign mix, in turn": _lab_mix,
}


@dataclass(frozen=True, slots=True)
class Figures:
    engine: str
    request: str
    median_us: float
    p95_us: float
    samples: int
    decision: str


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def measure(
    engines: dict[str, InspectionEngine],
    requests: Mapping[str, RawRequest | Callable[[int], RawRequest]],
    *,
    rounds: int,
    max_seconds: float,
    warmup: int = 5,
    clock: Callable[[], int] = time.perf_counter_ns,
    block: int = 1,
) -> list[Figures]:
    """Interleaved timing of every (engine, request) pair; stops at ``rounds`` or ``max_seconds``.
    ``clock`` gives nanoseconds: the wall clock, or ``time.thread_time_ns`` for CPU time.
    ``block`` > 1: each sample is the mean of that many inspections in a row by one engine
    (as in a gateway that runs one engine, whose processor caches stay warm), where 1 has the
    engines take turns request by request."""
    counter = itertools.count()

    def batch(request: RawRequest | Callable[[int], RawRequest], size: int) -> list[RawRequest]:
        # a fresh request per inspection is built before the clock starts
        if isinstance(request, RawRequest):
            return [request] * size
        return [request(next(counter)) for _ in range(size)]

    for _ in range(warmup):
        for engine in engines.values():
            for request in requests.values():
                for one in batch(request, 1):
                    engine.inspect(one)
    samples: dict[tuple[str, str], list[float]] = {(e, r): [] for e in engines for r in requests}
    deadline = time.perf_counter() + max_seconds
    for _ in range(rounds):
        if time.perf_counter() > deadline:
            break
        for rname, request in requests.items():
            for ename, engine in engines.items():
                todo = batch(request, block)
                start = clock()
                for one in todo:
                    engine.inspect(one)
                samples[(ename, rname)].append((clock() - start) / 1000 / block)
    return [
        Figures(
            engine=ename,
            request=rname,
            median_us=statistics.median(values),
            p95_us=_p95(values),
            samples=len(values),
            decision="flagged" if engines[ename].inspect(batch(requests[rname], 1)[0]).flagged else "allow",
        )
        for (ename, rname), values in samples.items()
        if values
    ]


def field_sweep(
    engines: dict[str, InspectionEngine], counts: Sequence[int] = (10, 100, 300, 1000), rounds: int = 5
) -> list[tuple[str, int, int, float]]:
    """Median µs per request as the number of JSON fields grows: (engine, fields, bytes, µs)."""
    out: list[tuple[str, int, int, float]] = []
    for count in counts:
        request = _json_post("/api/comments", {f"f{i}": f"value {i}" for i in range(count)})
        for name, engine in engines.items():
            times = []
            for _ in range(rounds):
                start = time.perf_counter_ns()
                engine.inspect(request)
                times.append((time.perf_counter_ns() - start) / 1000)
            out.append((name, count, len(request.body), statistics.median(times)))
    return out


def gil_ratio(engine: InspectionEngine, request: RawRequest, seconds: float = 1.0) -> float:
    """Main-thread Python progress while a worker inspects, relative to running alone."""

    def spin(duration: float) -> int:
        count, end = 0, time.perf_counter() + duration
        while time.perf_counter() < end:
            count += 1
        return count

    alone = spin(seconds / 2)
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            engine.inspect(request)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        contended = spin(seconds)
    finally:
        stop.set()
        worker.join()
    alone += spin(seconds / 2)
    return contended / alone if alone else 0.0


def _table(figures: list[Figures], engines: Sequence[str]) -> str:
    by = {(f.engine, f.request): f for f in figures}
    requests = list(dict.fromkeys(f.request for f in figures))
    head = "| request | " + " | ".join(f"{e} median µs | {e} p95 µs | {e} verdict" for e in engines)
    others = list(engines[1:])
    head += "".join(f" | {e}/{engines[0]}" for e in others) + " |"
    lines = [head, "|" + "---|" * (1 + 3 * len(engines) + len(others))]
    for r in requests:
        cells = []
        for e in engines:
            f = by.get((e, r))
            cells += [f"{f.median_us:.0f}", f"{f.p95_us:.0f}", f.decision] if f else ["-", "-", "-"]
        row = f"| {r} | " + " | ".join(cells)
        a = by.get((engines[0], r))
        for e in others:
            b = by.get((e, r))
            row += f" | {b.median_us / a.median_us:.1f}x" if a and b and a.median_us > 0 else " | -"
        lines.append(row + " |")
    return "\n".join(lines)


def _construct(name: str, settings: EngineSettings) -> InspectionEngine:
    if name.startswith("crs:"):
        from rampart.gateway.engines.crs.engine import CrsEngine

        return CrsEngine(settings, processes=int(name.split(":", 1)[1]))
    from rampart.gateway.engines import create_engine

    return create_engine(name, settings)


def _build(
    names: Sequence[str], settings: EngineSettings, build_timeout: float = 120.0
) -> tuple[dict[str, InspectionEngine], list[str]]:
    """Construct each engine in a daemon thread, waiting at most ``build_timeout`` seconds:
    an engine that fails or hangs is reported and left out, the others are still measured."""
    built: dict[str, InspectionEngine] = {}
    problems: list[str] = []
    for name in names:
        box: dict[str, InspectionEngine | BaseException] = {}

        def target(name: str = name, box: dict[str, InspectionEngine | BaseException] = box) -> None:
            try:
                box["engine"] = _construct(name, settings)
            except Exception as exc:  # reported below
                box["engine"] = exc

        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        worker.join(build_timeout)
        result = box.get("engine")
        if result is None:
            problems.append(f"{name}: not measured (not built within {build_timeout:.0f} s)")
        elif isinstance(result, BaseException):
            problems.append(f"{name}: not measured ({type(result).__name__}: {result})")
        else:
            built[name] = result
    return built, problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.native_vs_crs_engines",
        description="Inspection cost of the engines on the same requests.",
    )
    parser.add_argument(
        "--engines", default="native,crs", help="comma-separated engine names (default native,crs)"
    )
    parser.add_argument("--rounds", type=int, default=300, help="rounds over all requests (default 300)")
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="stop measuring after this (default 60)"
    )
    parser.add_argument("--paranoia", type=int, default=1)
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="time the wall clock or the thread's CPU"
    )
    parser.add_argument(
        "--block", type=int, default=1, help="inspections in a row per engine and sample (default 1)"
    )
    parser.add_argument("--gil", action="store_true", help="also check whether each engine releases the GIL")
    parser.add_argument("--build-timeout", type=float, default=120.0, help="seconds to wait for an engine")
    parser.add_argument("--sweep", action="store_true", help="also time 10..1000 JSON fields per request")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    rounds = max(1, min(args.rounds, 100_000))
    max_seconds = max(1.0, min(args.max_seconds, 600.0))

    settings = EngineSettings(mode="block", paranoia=args.paranoia)
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    engines, problems = _build(names, settings, max(1.0, args.build_timeout))
    for problem in problems:
        print(problem, file=sys.stderr)
    if not engines:
        return 1
    try:
        started = time.perf_counter()
        clock = time.thread_time_ns if args.clock == "cpu" else time.perf_counter_ns
        figures = measure(
            engines,
            {**BENCH_REQUESTS, **FRESH_REQUESTS},
            rounds=rounds,
            max_seconds=max_seconds,
            clock=clock,
            block=max(1, min(args.block, 1000)),
        )
        took = time.perf_counter() - started
        measured = [n for n in names if n in engines]
        load = os.getloadavg()
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"{platform.python_implementation()} {platform.python_version()}, "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (after the run)"
        )
        print(f"native engine: {accel.status()}")
        print(
            f"paranoia {args.paranoia}, {args.clock} clock, {figures[0].samples} rounds "
            f"of {args.block} inspection(s) per engine and request in {took:.1f} s\n"
        )
        print(_table(figures, measured))
        sweep: list[tuple[str, int, int, float]] = []
        if args.sweep:
            sweep = field_sweep(engines)
            print("\n| engine | JSON fields | body bytes | median µs |\n|---|---|---|---|")
            for name, count, size, median in sweep:
                print(f"| {name} | {count} | {size} | {median:.0f} |")
        gil: dict[str, float] = {}
        if args.gil:
            print()
            for name, engine in engines.items():
                gil[name] = gil_ratio(engine, BENCH_REQUESTS["1 KB JSON POST"])
                print(f"{name}: main-thread progress with a worker inspecting = {gil[name]:.2f} of alone")
        if args.json:
            payload = {
                "paranoia": args.paranoia,
                "clock": args.clock,
                "load_average": load,
                "figures": [_asdict(f) for f in figures],
                "gil_ratio": gil,
                "field_sweep": [
                    {"engine": n, "fields": c, "bytes": b, "median_us": m} for n, c, b, m in sweep
                ],
            }
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=2)
    finally:
        for engine in engines.values():
            engine.close()
    return 0


def _asdict(f: Figures) -> dict[str, object]:
    return {name: getattr(f, name) for name in Figures.__slots__}


if __name__ == "__main__":
    sys.exit(main())
