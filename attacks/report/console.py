"""The headline table on the terminal (rich)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from attacks.report.figures import fmt_pct, headline

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
    for name, why in results.get("skipped", {}).items():
        console.print(f"[yellow]{name}: not measured ({why})[/yellow]")
    through = results.get("through_everything", {})
    if through.get("count"):
        console.print(f"{through['count']} working exploit(s) got through every layer measured.")
