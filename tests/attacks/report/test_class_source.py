"""The report page's per-class x per-source section: caught vs passed per attack class for each
corpus source, counted from the records, and the peers that were skipped with the reason."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from rampart.attacks.replay.records import Record
from rampart.attacks.replay.runner import machine, versions, write_results
from rampart.attacks.report import write_report
from rampart.attacks.report.figures import source_class_tables
from tests.attacks.replay.factory import record, synthetic

IMPORTED = "crs-regression"


def _records() -> list[Record]:
    recs = synthetic(per_class=10, benign=12)
    # an imported suite: graded SQL injections (two caught by the native WAF), and flag-only
    # XSS cases no lab sink can judge (one flagged)
    imported = [
        record("imp-sql-1", native="detect", worked=True),
        record("imp-sql-2", native="detect"),
        record("imp-sql-3", worked=True),
        record("imp-xss-1", cls="xss", native="detect"),
        record("imp-xss-2", cls="xss"),
    ]
    for rec in imported:
        graded = not rec.case_id.startswith("imp-xss")
        recs.append(rec.model_copy(update={"source": IMPORTED, "graded": graded}))
    return recs


def _build(out: Path) -> tuple[list[Record], str]:
    recs = _records()
    meta = {
        "started_at": "2026-12-04T00:00:00+00:00",
        "duration_s": 1.0,
        "configs_requested": ["none", "waf", "rasp", "waf+rasp"],
        "layers_running": ["native", "rasp"],
        "passes": {},
        "notes": [],
        "peers": {},
        "peers_skipped": {
            "aikido": "the Python package 'aikido_zen' is not installed (pip install 'rampart[peers]')"
        },
        "versions": versions(),
        "machine": machine(),
    }
    write_results(out, recs, meta)
    write_report(out)
    return recs, (out / "index.html").read_text(encoding="utf-8")


def _cell(page: str, table_index: int, cls: str, column: int) -> str:
    table = re.search(
        rf'<table class="class-source" id="class-source-{table_index}">(.*?)</table>', page, re.S
    )
    assert table is not None
    row = re.search(rf"<tr><td><b>{cls}</b></td>(.*?)</tr>", table.group(1), re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">(.*?)</td>', row.group(1), re.S)
    return html.unescape(re.sub(r"<br>", " | ", cells[column]))


def test_caught_and_passed_per_class_and_source(tmp_path: Path) -> None:
    recs, page = _build(tmp_path)
    assert 'id="class-source"' in page
    tables = source_class_tables(json.loads((tmp_path / "results.json").read_text()))
    assert [t.source for t in tables] == ["rampart", IMPORTED]
    assert tables[0].configs == ["waf", "rasp", "waf+rasp"]
    # the built-in corpus, SQL injection, under waf (column 0): counted from the records
    own = [
        r
        for r in recs
        if r.pass_name == "detect" and r.source == "rampart" and r.attack_class == "sql_injection"
    ]
    caught = sum(r.verdicts["native"].decision != "allow" for r in own)
    text = _cell(page, 0, "sql_injection", 0)
    assert text.startswith(f"caught {caught} / passed {len(own) - caught} (")
    # waf+rasp (column 2) catches what either layer flagged
    either = sum(
        r.verdicts["native"].decision != "allow" or r.verdicts["rasp"].decision != "allow" for r in own
    )
    assert _cell(page, 0, "sql_injection", 2).startswith(f"caught {either} / passed {len(own) - either} (")
    # the imported suite: graded SQL injections and flag-only XSS, apart
    # (the synthetic block passes resend no imported case, so none of its exploits is "stopped")
    assert _cell(page, 1, "sql_injection", 0) == "caught 2 / passed 1 (66.7%) | stopped 0/2"
    assert _cell(page, 1, "xss", 0) == "flag-only flagged 1/2"
    assert _cell(page, 1, "xss", 1) == "flag-only flagged 0/2"
    assert page.count("<svg") >= 2 + 6  # one chart per source besides the others


def test_skipped_peers_are_named_with_the_reason(tmp_path: Path) -> None:
    _, page = _build(tmp_path)
    assert "Peers skipped: <b>aikido</b> (the Python package &#39;aikido_zen&#39; is not installed" in page
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "- Peers skipped: aikido (the Python package 'aikido_zen' is not installed" in summary
