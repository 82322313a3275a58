"""The report writers: same figures in HTML, Markdown and JSON; payloads escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rampart.attacks.report.charts import grouped_bars, hbars, stacked_hbars
from rampart.attacks.report.markdown import md_cell
from tests.attacks.report.conftest import EVIL, build_report


def test_three_files_written(report_dir: Path) -> None:
    for name in ("index.html", "summary.md", "results.json", "records.jsonl", "meta.json"):
        assert (report_dir / name).is_file(), name


def test_results_keys_and_load(report_dir: Path) -> None:
    res = json.loads((report_dir / "results.json").read_text())
    assert set(res) >= {"corpus", "configs", "load"}
    assert res["load"]["waf"] == {
        "rps": 600.5,
        "p50_ms": 5.0,
        "p95_ms": 14.0,
        "p99_ms": 30.0,
        "failure_ratio": 0.001,
    }
    assert res["corpus"]["attack"] == 49
    assert res["corpus"]["benign"] == 20


def test_html_escapes_payloads(report_dir: Path) -> None:
    page = (report_dir / "index.html").read_text()
    assert EVIL not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    assert "synthetic &lt;b&gt;records&lt;/b&gt;" in page
    # the one script on the page is ours, with the CSP nonce
    scripts = re.findall(r"<script[^>]*>", page)
    assert len(scripts) == 1
    nonce = re.search(r"'nonce-([^']+)'", page)
    assert nonce is not None
    assert f'nonce="{nonce.group(1)}"' in scripts[0]
    assert "default-src 'none'" in page


def test_html_is_self_contained(report_dir: Path) -> None:
    page = (report_dir / "index.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<link" not in page
    assert page.count("<svg") >= 6


def test_html_sections(report_dir: Path) -> None:
    page = (report_dir / "index.html").read_text()
    for anchor in ("summary", "classes", "fp", "overlap", "evasions", "load", "cases", "method"):
        assert f'id="{anchor}"' in page
    # the evasion past the perimeter is listed with its payload
    evasions = page[page.index('id="evasions"') : page.index('id="cases"')]
    assert "evil-001" in evasions
    # cost at a glance: the latency section sits right under the summary, above the per-case tables
    assert page.index('id="summary"') < page.index('id="load"') < page.index('id="classes"')


def test_markdown_matches_results(report_dir: Path) -> None:
    md = (report_dir / "summary.md").read_text()
    res = json.loads((report_dir / "results.json").read_text())
    waf = res["configs"]["waf"]
    assert f"({waf['attacks']['caught']}/{waf['attacks']['total']})" in md
    assert "<script>" not in md
    assert "| none | 900.0 |" in md


def test_report_without_load(tmp_path: Path) -> None:
    out = build_report(tmp_path / "r", load=False)
    res = json.loads((out / "results.json").read_text())
    assert "load" not in res
    assert 'id="load"' not in (out / "index.html").read_text()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a|b", "a\\|b"),
        ("x`y", "x\\`y"),
        ("<b>", "&lt;b&gt;"),
        ("l1\nl2", "l1 ⏎ l2"),
        ("z" * 200, "z" * 159 + "…"),
    ],
)
def test_md_cell(text: str, expected: str) -> None:
    assert md_cell(text) == expected


@pytest.mark.parametrize(
    "svg",
    [
        grouped_bars("t<", ["a&b", "c"], {"s<1>": [0.5, None], "s2": [1.0, 0.0]}),
        hbars("h", [("x<y", 0.3), ("z", None)]),
        hbars("rps", [("a", 1200.0), ("b", 300.0)], percent=False, unit=" rps"),
        stacked_hbars("o", ["p<1", "p2"], [("r&1", [3, 1]), ("r2", [0, 0])], colors=["#000", "#fff"]),
    ],
)
def test_charts_are_escaped_svg(svg: str) -> None:
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert "<1>" not in svg
    assert "a&b" not in svg
    assert "x<y" not in svg
    assert "r&1" not in svg


def test_report_command_errors_cleanly(tmp_path: Path) -> None:
    from rampart.cli import main

    assert main(["report", "--dir", str(tmp_path / "missing")]) == 2
