"""``summary.md``: the same figures as the HTML page, as Markdown tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rampart.attacks.replay.configs import LAYERS
from rampart.attacks.replay.records import Record
from rampart.attacks.report.figures import (
    HeadlineRow,
    class_rows,
    evasions,
    fmt_pct,
    fmt_ratio,
    headline,
    source_blocks,
    verdict_text,
)

__all__ = ["EVASIONS_LISTED", "md_cell", "render_markdown"]

EVASIONS_LISTED = 20


def md_cell(text: object, limit: int = 160) -> str:
    """Text safe inside a Markdown table cell: one line, pipes and backticks neutralised,
    HTML special characters escaped (Markdown renderers pass raw HTML through)."""
    s = str(text).replace("\r", " ").replace("\n", " ⏎ ")
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s.replace("|", "\\|").replace("`", "\\`")


def _summary_table(heads: Sequence[HeadlineRow], *, cost: bool) -> list[str]:
    """The headline: what each configuration catches and, with a load run, what it costs."""
    flag_only = any(h.flag_only for h in heads)
    cols = [
        "configuration",
        "attacks caught",
        "working exploits stopped",
        "benign flagged",
        "balanced accuracy",
    ]
    if flag_only:
        cols.append("flag-only flagged")
    if cost:
        cols += ["throughput vs bare lab", "p95 vs bare lab"]
    lines = ["| " + " | ".join(cols) + " |", "| --- |" + " ---: |" * (len(cols) - 1)]
    for h in heads:
        star = "*" if h.stopped_from == "detect_pass" else ""
        cells = [
            h.config,
            f"{fmt_pct(h.caught_rate)} ({h.caught}/{h.attacks})",
            f"{fmt_pct(h.stopped_rate)} ({h.stopped}/{h.working}){star}",
            f"{fmt_pct(h.flagged_rate)} ({h.flagged}/{h.benign})",
            fmt_pct(h.balanced_accuracy),
        ]
        if flag_only:
            cells.append(f"{fmt_pct(h.flag_only_rate)} ({h.flag_only_flagged}/{h.flag_only})")
        if cost:
            cells += [fmt_ratio(h.rps_ratio), fmt_ratio(h.p95_ratio)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _sources(results: Mapping[str, Any]) -> list[str]:
    """Every configuration's headline on each corpus source alone, rampart's own first."""
    blocks = source_blocks(results)
    if not blocks:
        return []
    lines = [
        "",
        "## Per corpus source",
        "",
        "Independent suites next to rampart's own corpus. Graded attacks are judged by the lab's oracle; "
        "flag-only attacks (no lab sink can judge them) only say whether a layer flagged them.",
        "",
        "| source | configuration | attacks caught | working exploits stopped | benign flagged | flag-only flagged |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for b in blocks:
        for h in b.rows:
            if h.config == "none":
                continue
            star = "*" if h.stopped_from == "detect_pass" else ""
            lines.append(
                f"| {md_cell(b.source)} | {h.config} | {fmt_pct(h.caught_rate)} ({h.caught}/{h.attacks}) | "
                f"{fmt_pct(h.stopped_rate)} ({h.stopped}/{h.working}){star} | "
                f"{fmt_pct(h.flagged_rate)} ({h.flagged}/{h.benign}) | "
                f"{fmt_pct(h.flag_only_rate)} ({h.flag_only_flagged}/{h.flag_only}) |"
            )
    return lines


def _load(results: Mapping[str, Any]) -> list[str]:
    load = results.get("load") or {}
    if not load:
        return []
    lines = [
        "",
        "## Latency and throughput",
        "",
        "| configuration | req/s | p50 ms | p95 ms | p99 ms | failures |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in load.items():
        lines.append(
            f"| {name} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['failure_ratio']:.2%} |"
        )
    return lines


def render_markdown(results: Mapping[str, Any], records: Sequence[Record]) -> str:
    corpus = results.get("corpus", {})
    meta = results.get("meta", {})
    versions = meta.get("versions", {})
    lines = [
        "# rampart: perimeter WAF and sink guard compared",
        "",
        f"Corpus: {corpus.get('attack', 0)} attack cases ({corpus.get('base_payloads', 0)} base payloads), "
        f"{corpus.get('benign', 0)} benign cases; classes: {', '.join(corpus.get('classes', []))}.",
        "",
        "## Verdict summary",
        "",
    ]
    heads = headline(results)
    lines += _summary_table(heads, cost=bool(results.get("load")))
    for name, why in results.get("skipped", {}).items():
        lines.append(f"\nNot measured: **{name}** ({md_cell(why)}).")
    lines += _sources(results)
    lines += _load(results)
    lines += [
        "",
        "## Detection per class",
        "",
        "| class | configuration | working caught | all caught | stopped | benign FPR | bal. acc. |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for cls, rows in class_rows(results, records).items():
        for r in rows:
            lines.append(
                f"| {cls} | {r.config} | {fmt_pct(r.tpr_working)} ({r.working_caught}/{r.working}) | "
                f"{fmt_pct(r.tpr_all)} ({r.caught}/{r.attacks}) | {r.stopped}/{r.working} | "
                f"{fmt_pct(r.fpr)} ({r.benign_flagged}/{r.benign}) | {fmt_pct(r.balanced_accuracy)} |"
            )
    overlap = results.get("overlap", {})
    if overlap:
        lines += [
            "",
            "## Overlap (working exploits)",
            "",
            "| pair | only WAF | both | only sink guard | neither |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name, o in overlap.items():
            g = o["working_exploits"]
            lines.append(f"| {name} | {g['only_waf']} | {g['both']} | {g['only_rasp']} | {g['neither']} |")
    through = results.get("through_everything", {})
    if through:
        lines.append(f"\nWorking exploits through every layer measured: {through.get('count', 0)}.")
    layers = [x for x in results.get("layers", []) if x in LAYERS]
    for waf in (x for x in layers if LAYERS[x].kind == "waf"):
        ev = evasions(records, waf, layers)
        for key, title in (
            ("past_waf", f"Past {LAYERS[waf].label}, stopped at the sink"),
            ("past_rasp", f"Past the sink guard, flagged by {LAYERS[waf].label}"),
        ):
            rows_ev = ev[key]
            lines += ["", f"## {title} ({len(rows_ev)})", ""]
            if not rows_ev:
                lines.append("None.")
                continue
            lines += ["| case | class | payload | caught by |", "| --- | --- | --- | --- |"]
            for e in rows_ev[:EVASIONS_LISTED]:
                rec = e.record
                lines.append(
                    f"| {md_cell(rec.case_id)} | {rec.attack_class} | `{md_cell(rec.request)}` | "
                    f"{md_cell(verdict_text(rec, e.caught_by))} |"
                )
            if len(rows_ev) > EVASIONS_LISTED:
                lines.append(f"\n…and {len(rows_ev) - EVASIONS_LISTED} more (see index.html).")
    lines += [
        "",
        "## Methodology",
        "",
        f"- Replayed {meta.get('started_at', '?')} in {meta.get('duration_s', '?')} s; "
        f"layers measured: {', '.join(layers) or 'none'}.",
        f"- OWASP CRS {versions.get('crs') or 'n/a'}, paranoia level {versions.get('paranoia', 1)}; "
        f"rampart {versions.get('rampart', '?')}, Python {versions.get('python', '?')}.",
        "- Caught: any layer's detect-pass verdict is not `allow`. Working exploit: the oracle confirmed "
        "the effect on the unprotected lab. Stopped: the block pass shows a layer blocking and the effect "
        "gone (* without a block pass, the detect-pass catch).",
    ]
    peers = meta.get("peers") or {}
    lines.append(
        "- Peers replayed: "
        + (", ".join(f"{md_cell(n)} ({md_cell(d)})" for n, d in peers.items()) if peers else "none")
        + "."
    )
    skipped_peers = meta.get("peers_skipped") or {}
    if skipped_peers:
        lines.append(
            "- Peers skipped: "
            + "; ".join(f"{md_cell(n)} ({md_cell(w)})" for n, w in skipped_peers.items())
            + "."
        )
    lines += [f"- Note: {md_cell(n, 400)}" for n in meta.get("notes", [])]
    return "\n".join(lines) + "\n"
