"""``index.html``: one self-contained page (inline SVG, inline CSS, one nonce'd script,
a CSP that forbids every fetch). Jinja2 autoescaping escapes every payload."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from rampart.attacks.replay.configs import CONFIGS, LAYERS
from rampart.attacks.replay.records import Record
from rampart.attacks.report import charts
from rampart.attacks.report.figures import (
    class_rows,
    effects_text,
    evasions,
    fmt_pct,
    fmt_ratio,
    headline,
    source_blocks,
    source_class_tables,
    verdict_text,
)
from rampart.attacks.summary import DETECT_PASS

__all__ = ["EVASIONS_SHOWN", "render_html"]

EVASIONS_SHOWN = 150
OVERLAP_PARTS = ("only WAF", "both", "only sink guard", "neither")
OVERLAP_COLORS = ("#4e79a7", "#59a14f", "#f28e2b", "#bab0ac")


def _template() -> jinja2.Template:
    source = resources.files("rampart.attacks.report").joinpath("template.html").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(source)


def _overlap_rows(results: Mapping[str, Any], key: str) -> list[tuple[str, list[int]]]:
    rows: list[tuple[str, list[int]]] = []
    for name, o in results.get("overlap", {}).items():
        g = o[key]
        rows.append((name, [g["only_waf"], g["both"], g["only_rasp"], g["neither"]]))
    return rows


def _charts(results: Mapping[str, Any]) -> dict[str, Markup]:
    cfgs = results.get("configs", {})
    protected = [n for n in cfgs if n in CONFIGS and CONFIGS[n].layers]
    classes = sorted({c for cfg in cfgs.values() for c in cfg.get("per_class", {})})
    out: dict[str, str] = {}
    heads = headline(results)
    out["headline"] = charts.grouped_bars(
        "Per configuration",
        [h.config for h in heads],
        {
            "attacks caught": [h.caught_rate for h in heads],
            "working exploits stopped": [h.stopped_rate for h in heads],
            "benign flagged": [h.flagged_rate for h in heads],
        },
    )

    def per_class(field_num: str, field_den: str) -> dict[str, list[float | None]]:
        series: dict[str, list[float | None]] = {}
        for name in protected:
            pc = cfgs[name].get("per_class", {})
            series[name] = [
                (pc[c][field_num] / pc[c][field_den]) if c in pc and pc[c][field_den] else None
                for c in classes
            ]
        return series

    out["class_working"] = charts.grouped_bars(
        "Working exploits caught, per class", classes, per_class("working_caught", "working")
    )
    out["class_all"] = charts.grouped_bars(
        "All attempts caught, per class", classes, per_class("caught", "total")
    )
    out["fp"] = charts.hbars(
        "Benign flagged (detect pass)",
        [(h.config, h.flagged_rate) for h in heads if h.config in protected],
    )
    block_fp = [
        (n, cfgs[n]["block_pass"]["benign_blocked"] / cfgs[n]["block_pass"]["benign_resent"])
        for n in protected
        if cfgs[n].get("block_pass", {}).get("benign_resent")
    ]
    if block_fp:
        out["fp_block"] = charts.hbars("Benign blocked or changed (block pass)", block_fp)
    overlap = _overlap_rows(results, "working_exploits")
    out["overlap"] = charts.stacked_hbars(
        "Working exploits: which layer flagged them", OVERLAP_PARTS, overlap, colors=OVERLAP_COLORS
    )
    out["overlap_all"] = charts.stacked_hbars(
        "All attack attempts: which layer flagged them",
        OVERLAP_PARTS,
        _overlap_rows(results, "attacks"),
        colors=OVERLAP_COLORS,
    )
    for i, table in enumerate(source_class_tables(results)):
        out[f"source_class_{i}"] = charts.grouped_bars(
            f"{table.source}: graded attacks caught, per class",
            table.classes,
            {
                name: [c.caught_rate if (c := table.cell(cls, name)) else None for cls in table.classes]
                for name in table.configs
            },
        )
    load = results.get("load") or {}
    if load:
        out["rps"] = charts.hbars(
            "Throughput (requests/s)", [(n, r["rps"]) for n, r in load.items()], percent=False, unit=" rps"
        )
        out["p95"] = charts.hbars(
            "p95 latency (ms)", [(n, r["p95_ms"]) for n, r in load.items()], percent=False, unit=" ms"
        )
    return {k: Markup(v) for k, v in out.items()}  # noqa: S704 - built from escaped parts in charts.py


def render_html(results: Mapping[str, Any], records: Sequence[Record]) -> str:
    """The whole report page."""
    meta = results.get("meta", {})
    layers = [x for x in results.get("layers", []) if x in LAYERS]
    detect = [r for r in records if r.pass_name == DETECT_PASS]
    evasion_blocks: list[dict[str, Any]] = []
    for waf_layer in (x for x in layers if LAYERS[x].kind == "waf"):
        ev = evasions(records, waf_layer, layers)
        label = LAYERS[waf_layer].label
        evasion_blocks.append(
            {
                "title": f"Past the perimeter ({label}) but stopped at the sink",
                "rows": ev["past_waf"][:EVASIONS_SHOWN],
                "total": len(ev["past_waf"]),
            }
        )
        evasion_blocks.append(
            {
                "title": f"Past the sink guard but flagged by the perimeter ({label})",
                "rows": ev["past_rasp"][:EVASIONS_SHOWN],
                "total": len(ev["past_rasp"]),
            }
        )
    heads = headline(results)
    blocks = source_blocks(results)
    through = results.get("through_everything", {"count": 0, "layers": [], "case_ids": []})
    rows = class_rows(results, records)
    return _template().render(
        source_class=source_class_tables(results),
        peers_skipped=meta.get("peers_skipped") or {},
        nonce=secrets.token_urlsafe(16),
        corpus=results.get("corpus", {}),
        meta=meta,
        versions=meta.get("versions", {}),
        machine=meta.get("machine", {}),
        passes=meta.get("passes", {}),
        notes=meta.get("notes", []),
        headline=heads,
        any_flag_only=any(h.flag_only for h in heads),
        sources=blocks,
        source_configs=[h.config for h in heads if h.config != "none"],
        ratio=fmt_ratio,
        peers_ran=meta.get("peers") or {},
        any_detect_stopped=any(h.stopped_from == "detect_pass" for h in heads),
        skipped=results.get("skipped", {}),
        through=through,
        through_ids=set(through.get("case_ids", [])),
        class_rows=rows,
        charts=_charts(results),
        evasion_blocks=evasion_blocks,
        load=results.get("load") or {},
        layers=layers,
        waf_layers=[x for x in layers if LAYERS[x].kind == "waf"],
        layer_labels={k: v.label for k, v in LAYERS.items()},
        case_rows=detect,
        case_classes=sorted({r.attack_class or "benign" for r in detect}),
        pct=fmt_pct,
        verdict=verdict_text,
        effects=effects_text,
    )
