"""Benchmark of the SecLang operators and transformations on CRS's own test inputs.

``python -m tests.gateway.engines.native.seclang.bench_seclang [RULES_DIR]`` (default: CRS 4.28.0 rules in
the shared folder) prints: each CRS transformation's cost per value; for the ``@rx`` patterns,
build time, prefilter kinds, the compile time of one Hyperscan database of all prefilters
(and of the literal ones alone), its scan time per value, and how often a prefilter hit was
confirmed by RE2. Compare figures from one run only (the machine is shared).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import hyperscan

from rampart.attacks.ftw.runner import shared_crs
from rampart.gateway.engines.native.seclang import transforms
from rampart.gateway.engines.native.seclang.operators import PREFILTER_FLAGS
from rampart.gateway.engines.native.seclang.operators.regex import Regex, compile_rx
from rampart.gateway.engines.native.seclang.operators.survey import read_operators
from tests.gateway.engines.native.seclang.crs_inputs import crs_payloads

SHARED = shared_crs()
TRANSFORMATIONS = (
    "urlDecodeUni",
    "htmlEntityDecode",
    "jsDecode",
    "cssDecode",
    "utf8toUnicode",
    "cmdLine",
    "lowercase",
    "removeNulls",
    "compressWhitespace",
    "normalisePath",
    "replaceComments",
    "removeWhitespace",
)


def _database(regexes: list[Regex], only_literal: bool) -> tuple[hyperscan.Database, float, int]:
    expressions: list[bytes] = []
    ids: list[int] = []
    for index, regex in enumerate(regexes):
        if regex.prefilter is None:
            continue
        literal = regex.prefilter[0] != regex.hyperscan_pattern
        if only_literal and not literal:
            continue
        expressions += [p.encode("latin-1") for p in regex.prefilter]
        ids += [index] * len(regex.prefilter)
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    start = time.perf_counter()
    database.compile(expressions=expressions, ids=ids, flags=[PREFILTER_FLAGS] * len(expressions))
    return database, time.perf_counter() - start, len(expressions)


def main(argv: list[str]) -> int:
    """Run the benchmark on the rule folder in ``argv`` (or CRS 4.28.0)."""
    folder = Path(argv[0]) if argv else SHARED / "v4.28.0" / "rules"
    values = [b.decode("latin-1") for b in crs_payloads(SHARED)[:2000]]
    size = sum(len(v) for v in values)
    print(f"{len(values)} CRS test values, {size / len(values):.0f} bytes on average")
    for name in TRANSFORMATIONS:
        fn = transforms.get(name)
        start = time.perf_counter()
        for value in values:
            fn(value)
        elapsed = time.perf_counter() - start
        print(f"  t:{name:20} {elapsed * 1e6 / len(values):6.1f} us/value {size / elapsed / 1e6:7.1f} MB/s")
    patterns = list(
        dict.fromkeys(
            op.argument
            for path in sorted(folder.glob("*.conf"))
            for op in read_operators(path)
            if op.name.lower() == "rx" and "%{" not in op.argument
        )
    )
    start = time.perf_counter()
    regexes = [compile_rx(p) for p in patterns]
    print(f"{len(patterns)} @rx patterns in {folder}: built in {time.perf_counter() - start:.1f} s")
    literal = sum(1 for r in regexes if r.prefilter is not None and r.prefilter[0] != r.hyperscan_pattern)
    none = sum(1 for r in regexes if r.prefilter is None)
    whole = len(regexes) - literal - none
    print(f"  prefilters: required literals {literal}, whole pattern {whole}, none {none}")
    _, literal_seconds, literal_count = _database(regexes, only_literal=True)
    print(f"  one database of the literal prefilters: {literal_count}, compiled in {literal_seconds:.2f} s")
    database, seconds, count = _database(regexes, only_literal=False)
    print(f"  one database, every prefilter: {count} expressions, compiled in {seconds:.1f} s")
    hits = confirmed = 0
    scan = evaluate = 0.0
    for value in values:
        data = value.encode("latin-1")
        found: set[int] = set()

        def on_match(index: int, *_: object, found: set[int] = found) -> None:
            found.add(index)

        start = time.perf_counter()
        database.scan(data, match_event_handler=on_match)
        scan += time.perf_counter() - start
        start = time.perf_counter()
        for index in found:
            hits += 1
            confirmed += regexes[index].evaluate(value) is not None
        evaluate += time.perf_counter() - start
    print(f"  scan {scan * 1e6 / len(values):.1f} us/value; {hits} prefilter hits, {confirmed} confirmed")
    print(f"  RE2 confirmation {evaluate * 1e6 / max(hits, 1):.1f} us per hit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
