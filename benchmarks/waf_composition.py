"""False positives and detection of the native engine's rule sets, alone and composed, in one run.

    .venv/bin/python -m benchmarks.waf_composition [--paranoia 1] [--sources all]
        [--confirm sqli,rce,path,php,attr] [--sample 0] [--json out.json]

Every request of every source goes, in process, through rampart's YAML rules (``rules``), CRS on
the SecLang executor (``seclang``) and CRS on libmodsecurity (``crs``); from those verdicts the
table derives the compositions without inspecting twice:

- ``native``: YAML and CRS each against the threshold (the engine's score is the larger);
- ``native-sum``: the two scores added against the one threshold (the alternative not taken);
- ``native+confirm``: ``native`` with CRS's families in ``--confirm`` confirmed by rampart's
  tokenizers (:meth:`rampart.gateway.engines.native.combined.CombinedEngine.confirmed`);
- ``seclang+confirm`` and ``crs+confirm``: CRS alone with the same confirmation.

Sources: ``corpus`` (rampart's built-in corpus: attack and benign cases, the request as the
harness sends it, without framings that need the wire), ``gotestwaf`` (the GoTestWAF-format
false-positive fixture in tests/attacks/importers/data), ``crs-3.3.4`` and ``crs-4.28.0`` (CRS's
regression suites: attack stages and benign stages, with CRS's test setup at ``--paranoia``;
skipped when the suite is not there). A case counts as flagged when its score reaches the
threshold. No network traffic.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from rampart.gateway.engines.crs.engine import CrsEngine
from rampart.gateway.engines.native.combined import CombinedEngine
from rampart.gateway.model import EngineSettings, RawRequest, Verdict

__all__ = ["COLUMNS", "Tally", "case_request", "main", "measure_source"]

COLUMNS = (
    "rules",
    "seclang",
    "seclang+confirm",
    "native",
    "native-sum",
    "native+confirm",
    "crs",
    "crs+confirm",
)
_HEADERS: tuple[tuple[str, str], ...] = (
    ("Host", "127.0.0.1:8080"),
    ("User-Agent", "Python/3.13 aiohttp/3.11"),
    ("Accept", "*/*"),
    ("Accept-Encoding", "gzip, deflate"),
)
_FIXTURE = Path(__file__).resolve().parents[1] / "tests/attacks/importers/data/gotestwaf"


@dataclass(slots=True)
class Tally:
    """Flagged counts per column for one (source, label, group)."""

    total: int = 0
    flagged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))

    def add(self, flags: dict[str, bool]) -> None:
        self.total += 1
        for name, hit in flags.items():
            self.flagged[name] += hit


def case_request(case: object) -> RawRequest:
    """A corpus case's request as the gateway hands it to an engine (gzip bodies decoded, as
    the gateway reads them)."""
    from rampart.attacks.cases import Case
    from rampart.attacks.replay.send import encode_query

    assert isinstance(case, Case)
    req = case.request
    query = req.raw_query if req.raw_query is not None else encode_query(req.query)
    path = req.path if req.path.startswith("/") else "/" + req.path
    headers = list(_HEADERS) + [(k, v) for k, v in req.headers.items() if k.lower() != "host"]
    if req.cookies:
        headers.append(("Cookie", "; ".join(f"{k}={v}" for k, v in req.cookies.items())))
    body = req.wire_body() or b""
    if req.content_encoding == "gzip":
        body = gzip.decompress(body)
    if req.content_type:
        headers.append(("Content-Type", req.content_type))
    if body:
        headers.append(("Content-Length", str(len(body))))
    return RawRequest(req.method, path + (f"?{query}" if query else ""), tuple(headers), body)


def _flags(engine: CombinedEngine, crs: CrsEngine, request: RawRequest) -> dict[str, bool]:
    threshold = engine.settings.threshold
    yaml_v = engine.rules.inspect(request)
    sec = engine.crs.inspect(request)
    lib = crs.inspect(request)

    def confirmed(verdict: Verdict) -> Verdict:
        return engine.confirmed(request, verdict) if verdict.error is None else verdict

    sec_c, lib_c = confirmed(sec), confirmed(lib)
    return {
        "rules": yaml_v.flagged,
        "seclang": sec.flagged,
        "seclang+confirm": sec_c.flagged,
        "native": yaml_v.flagged or sec.flagged,
        "native-sum": yaml_v.score + sec.score >= threshold,
        "native+confirm": yaml_v.flagged or sec_c.flagged,
        "crs": lib.flagged,
        "crs+confirm": lib_c.flagged,
    }


def measure_source(
    engine: CombinedEngine, crs: CrsEngine, items: Iterator[tuple[str, str, RawRequest]]
) -> dict[tuple[str, str], Tally]:
    """(label, group) -> tally over ``items`` of (label, group, request)."""
    out: dict[tuple[str, str], Tally] = {}
    for label, group, request in items:
        flags = _flags(engine, crs, request)
        out.setdefault((label, group), Tally()).add(flags)
        out.setdefault((label, "all"), Tally()).add(flags)
    return out


def _spread(items: list[tuple[str, str, RawRequest]], sample: int) -> list[tuple[str, str, RawRequest]]:
    if sample <= 0 or len(items) <= sample:
        return items
    step = len(items) / sample
    return [items[int(i * step)] for i in range(sample)]


def _corpus_items(sample: int) -> list[tuple[str, str, RawRequest]]:
    from rampart.attacks.corpus import case_class, load_cases

    return _spread(
        [(c.label, case_class(c), case_request(c)) for c in load_cases()],
        sample,
    )


def _gotestwaf_items() -> list[tuple[str, str, RawRequest]]:
    from rampart.attacks.importers.gotestwaf import import_gotestwaf

    cases = import_gotestwaf(_FIXTURE).cases
    return [(c.label, c.source, case_request(c)) for c in cases]


def _crs_items(version: str, sample: int) -> list[tuple[str, str, RawRequest]]:
    from rampart.attacks.ftw.runner import CRS_VERSIONS, classify, family_of, load_tests, stage_request

    items: list[tuple[str, str, RawRequest]] = []
    for test in load_tests(CRS_VERSIONS[version]):
        for index, stage in enumerate(test.stages):
            kind = classify(test, stage)
            if kind not in ("attack", "benign"):
                continue
            try:
                request = stage_request(stage, f"{test.title}.{index}")
            except ValueError:
                continue
            items.append((kind, family_of(test), request))
    return _spread(items, sample)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _table(results: dict[str, dict[tuple[str, str], Tally]]) -> str:
    lines = [
        "| source | label | group | n | " + " | ".join(COLUMNS) + " |",
        "|---|---|---|---:|" + "---:|" * len(COLUMNS),
    ]
    for source, tallies in results.items():
        for (label, group), tally in sorted(
            tallies.items(), key=lambda kv: (kv[0][0], kv[0][1] != "all", kv[0][1])
        ):
            cells = [_pct(tally.flagged[c], tally.total) for c in COLUMNS]
            lines.append(f"| {source} | {label} | {group} | {tally.total} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.waf_composition",
        description="False positives and detection of the native engine's rule sets, alone and composed.",
    )
    parser.add_argument("--paranoia", type=int, default=1, choices=(1, 2, 3, 4))
    parser.add_argument(
        "--sources",
        default="all",
        help="comma-separated: corpus, gotestwaf, crs-3.3.4, crs-4.28.0 (default all)",
    )
    parser.add_argument(
        "--confirm",
        default="sqli,rce,path,php,attr",
        help="families confirmed (default: the gateway's, sqli,rce,path,php,attr)",
    )
    parser.add_argument("--sample", type=int, default=0, help="at most N requests per source, evenly spread")
    parser.add_argument(
        "--groups", action="store_true", help="one row per class / CRS family, not only the totals"
    )
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    wanted = (
        ["corpus", "gotestwaf", "crs-3.3.4", "crs-4.28.0"]
        if args.sources == "all"
        else [s.strip() for s in args.sources.split(",") if s.strip()]
    )
    unknown = [s for s in wanted if s not in ("corpus", "gotestwaf", "crs-3.3.4", "crs-4.28.0")]
    if unknown:
        parser.error(f"unknown source(s) {', '.join(unknown)}; use corpus, gotestwaf, crs-3.3.4, crs-4.28.0")
    confirm = tuple(s.strip() for s in args.confirm.split(",") if s.strip())
    base = EngineSettings(mode="block", paranoia=args.paranoia, confirm=confirm)
    started = time.perf_counter()
    results: dict[str, dict[tuple[str, str], Tally]] = {}
    for source in wanted:
        with ExitStack() as stack:
            if source.startswith("crs-"):
                from rampart.attacks.ftw.runner import CRS_VERSIONS, test_settings

                version = source.removeprefix("crs-")
                if not CRS_VERSIONS[version].tests.is_dir():
                    print(
                        f"{source}: suite not found at {CRS_VERSIONS[version].tests}, skipped",
                        file=sys.stderr,
                    )
                    continue
                suite = stack.enter_context(test_settings(CRS_VERSIONS[version], args.paranoia))
                settings = replace(base, crs_dir=suite.crs_dir, crs_setup=suite.crs_setup)
                items = _crs_items(version, args.sample)
            else:
                settings = base
                items = _corpus_items(args.sample) if source == "corpus" else _gotestwaf_items()
            engine = CombinedEngine(settings)
            crs = CrsEngine(settings, processes=0)
            try:
                tallies = measure_source(engine, crs, iter(items))
            finally:
                engine.close()
                crs.close()
        results[source] = tallies if args.groups else {k: v for k, v in tallies.items() if k[1] == "all"}
        print(
            f"{source}: {len(items)} requests ({time.perf_counter() - started:.0f} s so far)", file=sys.stderr
        )
    load = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, load average {load[0]:.1f} (after the run); paranoia {args.paranoia}, "
        f"threshold {base.threshold}, confirm {','.join(confirm) or '-'}; "
        f"{time.perf_counter() - started:.0f} s\n"
    )
    print(_table(results))
    if args.json:
        payload = {
            source: [
                {"label": label, "group": group, "total": t.total, "flagged": t.flagged}
                for (label, group), t in tallies.items()
            ]
            for source, tallies in results.items()
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"paranoia": args.paranoia, "confirm": confirm, "results": payload}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
