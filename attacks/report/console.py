"""The headline table on the terminal (rich)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from rampart.attacks.report.figures import fmt_pct, headline, source_blocks

__all__ = ["print_headline"]


def print_headline(console: Console, results: Mapping[str, Any]) -> None:
    table = Table(title="rampart: what each configuration caught")
    for col, justify in (
        ("configuration", "left"),
        ("attacks caught", "right"),
        ("working exploits stopped", "right"),
        ("benign flagged", "right"),
        ("balanced accuracy", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for h in headline(results):
        star = "*" if h.stopped_from == "detect_pass" else ""
        table.add_row(
            h.config,
            f"{fmt_pct(h.caught_rate)} ({h.caught}/{h.attacks})",
            f"{fmt_pct(h.stopped_rate)} ({h.stopped}/{h.working}){star}",
            f"{fmt_pct(h.flagged_rate)} ({h.flagged}/{h.benign})",
            fmt_pct(h.balanced_accuracy),
        )
    console.print(table)
    blocks = source_blocks(results)
    if len(blocks) > 1:
        per = Table(title="per corpus source: attacks caught / working exploits stopped / benign flagged")
        per.add_column("configuration")
        for b in blocks:
            per.add_column(b.source + ("" if b.independent else " (own)"), justify="right")
        names = [h.config for h in blocks[0].rows if h.config != "none"]
        for name in names:
            cells = []
            for b in blocks:
                row = next((r for r in b.rows if r.config == name), None)
                cells.append(
                    "-"
                    if row is None
                    else f"{fmt_pct(row.caught_rate)} / {fmt_pct(row.stopped_rate)} / {fmt_pct(row.flagged_rate)}"
                )
            per.add_row(name, *cells)
        console.print(per)
    for name, why in results.get("skipped", {}).items():
        console.print(f"[yellow]{name}: not measured ({why})[/yellow]")
    through = results.get("through_everything", {})
    if through.get("count"):
        console.print(f"{through['count']} working exploit(s) got through every layer measured.")
