"""The comparison report: ``index.html`` (self-contained), ``summary.md`` and
``results.json``, all computed from the replay records (``records.jsonl``, ``meta.json``)
and, when present, the load comparison (``load.json``)."""

from __future__ import annotations

import json
from pathlib import Path

from rampart.attacks.report.console import print_headline

__all__ = ["print_headline", "write_report"]


def write_report(out_dir: Path) -> list[Path]:
    """Recompute the results from the records in ``out_dir`` and write the three files."""
    from rampart.attacks.replay.records import read_records
    from rampart.attacks.replay.runner import META_FILE, RECORDS_FILE, results_from
    from rampart.attacks.report.html import render_html
    from rampart.attacks.report.markdown import render_markdown

    records = read_records(out_dir / RECORDS_FILE)
    meta_path = out_dir / META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    results = results_from(out_dir, records, meta)
    html_path = out_dir / "index.html"
    md_path = out_dir / "summary.md"
    html_path.write_text(render_html(results, records), encoding="utf-8")
    md_path.write_text(render_markdown(results, records), encoding="utf-8")
    return [html_path, md_path, out_dir / "results.json"]
