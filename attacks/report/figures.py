"""The report's view of the results: headline rows, per-class detection per layer,
layer overlap, evasions and the per-case rows. Pure functions of ``results.json`` and the
replay records, shared by the HTML, Markdown and console writers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rampart.attacks.cases import BUILTIN_SOURCE, ENDPOINTS
from rampart.attacks.replay.configs import CONFIGS, LAYERS
from rampart.attacks.replay.records import Record
from rampart.attacks.summary import DETECT_PASS

__all__ = [
    "ClassRow",
    "Evasion",
    "HeadlineRow",
    "SourceBlock",
    "SourceClassCell",
    "SourceClassTable",
    "class_rows",
    "evasions",
    "fmt_ratio",
    "headline",
    "pct",
    "source_blocks",
    "source_class_tables",
    "verdict_text",
]


def pct(num: int, den: int) -> float | None:
    return num / den if den else None


def fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


@dataclass(frozen=True, slots=True)
class HeadlineRow:
    config: str
    description: str
    caught: int
    attacks: int
    stopped: int
    working: int
    flagged: int
    benign: int
    stopped_from: str
    flag_only_flagged: int = 0
    flag_only: int = 0  # imported attacks no lab sink can judge
    rps_ratio: float | None = None  # throughput relative to the bare lab ("none") in the same load run
    p95_ratio: float | None = None

    @property
    def flag_only_rate(self) -> float | None:
        return pct(self.flag_only_flagged, self.flag_only)

    @property
    def caught_rate(self) -> float | None:
        return pct(self.caught, self.attacks)

    @property
    def stopped_rate(self) -> float | None:
        return pct(self.stopped, self.working)

    @property
    def flagged_rate(self) -> float | None:
        return pct(self.flagged, self.benign)

    @property
    def balanced_accuracy(self) -> float | None:
        tpr, fpr = self.caught_rate, self.flagged_rate
        if tpr is None or fpr is None:
            return None
        return (tpr + 1 - fpr) / 2


def _cost(load: Mapping[str, Any], name: str) -> tuple[float | None, float | None]:
    """(throughput, p95) of ``name`` relative to the bare lab in the same load run."""
    bare, row = load.get("none"), load.get(name)
    if not bare or not row:
        return None, None
    rps = row["rps"] / bare["rps"] if bare.get("rps") else None
    p95 = row["p95_ms"] / bare["p95_ms"] if bare.get("p95_ms") else None
    return rps, p95


def headline(results: Mapping[str, Any]) -> list[HeadlineRow]:
    rows: list[HeadlineRow] = []
    load = results.get("load") or {}
    for name, cfg in results.get("configs", {}).items():
        fo = cfg.get("flag_only", {})
        rps_ratio, p95_ratio = _cost(load, name)
        rows.append(
            HeadlineRow(
                config=name,
                description=str(cfg.get("description", "")),
                caught=int(cfg["attacks"]["caught"]),
                attacks=int(cfg["attacks"]["total"]),
                stopped=int(cfg["working_exploits"]["stopped"]),
                working=int(cfg["working_exploits"]["total"]),
                flagged=int(cfg["benign"]["flagged"]),
                benign=int(cfg["benign"]["total"]),
                stopped_from=str(cfg.get("stopped_from", "")),
                flag_only_flagged=int(fo.get("flagged", 0)),
                flag_only=int(fo.get("total", 0)),
                rps_ratio=rps_ratio,
                p95_ratio=p95_ratio,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class SourceBlock:
    """One corpus source: its size and every configuration's headline on it alone."""

    source: str
    attacks: int
    benign: int
    flag_only: int
    rows: list[HeadlineRow]

    @property
    def independent(self) -> bool:
        return self.source != BUILTIN_SOURCE


def source_blocks(results: Mapping[str, Any]) -> list[SourceBlock]:
    """The headline per corpus source (``results["sources"]``), the built-in corpus first."""
    out: list[SourceBlock] = []
    for src, block in results.get("sources", {}).items():
        corpus = block.get("corpus", {})
        flag_only = int(corpus.get("flag_only", 0))
        out.append(
            SourceBlock(
                source=src,
                attacks=int(corpus.get("attack", 0)) - flag_only,
                benign=int(corpus.get("benign", 0)),
                flag_only=flag_only,
                rows=headline({"configs": block.get("configs", {})}),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class SourceClassCell:
    """One attack class of one corpus source under one configuration: graded attacks caught
    and passed (working exploits stopped among them) and flag-only attacks flagged."""

    caught: int
    total: int
    working: int
    stopped: int
    flag_only_flagged: int = 0
    flag_only: int = 0

    @property
    def passed(self) -> int:
        return self.total - self.caught

    @property
    def caught_rate(self) -> float | None:
        return pct(self.caught, self.total)


@dataclass(frozen=True, slots=True)
class SourceClassTable:
    """Caught vs passed per attack class for one corpus source: ``cells[class][config]``."""

    source: str
    configs: list[str]
    classes: list[str]
    cells: dict[str, dict[str, SourceClassCell]]

    @property
    def independent(self) -> bool:
        return self.source != BUILTIN_SOURCE

    def cell(self, cls: str, config: str) -> SourceClassCell | None:
        return self.cells.get(cls, {}).get(config)


def source_class_tables(results: Mapping[str, Any]) -> list[SourceClassTable]:
    """Per corpus source, every protected configuration's caught/passed per attack class
    (from ``results["sources"][src]["configs"][cfg]["per_class"]`` and ``flag_only``)."""
    out: list[SourceClassTable] = []
    for src, block in results.get("sources", {}).items():
        configs = [
            name for name, cfg in block.get("configs", {}).items() if cfg.get("layers") or cfg.get("peer")
        ]
        cells: dict[str, dict[str, SourceClassCell]] = {}
        for name in configs:
            cfg = block["configs"][name]
            fo = cfg.get("flag_only", {}).get("per_class", {})
            for cls in sorted(set(cfg.get("per_class", {})) | set(fo)):
                pc = cfg.get("per_class", {}).get(cls, {})
                cells.setdefault(cls, {})[name] = SourceClassCell(
                    caught=int(pc.get("caught", 0)),
                    total=int(pc.get("total", 0)),
                    working=int(pc.get("working", 0)),
                    stopped=int(pc.get("stopped", 0)),
                    flag_only_flagged=int(fo.get(cls, {}).get("flagged", 0)),
                    flag_only=int(fo.get(cls, {}).get("total", 0)),
                )
        if configs and cells:
            out.append(SourceClassTable(src, configs, sorted(cells), cells))
    return out


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


@dataclass(frozen=True, slots=True)
class ClassRow:
    """One class under one configuration."""

    attack_class: str
    config: str
    attacks: int
    caught: int
    working: int
    working_caught: int
    stopped: int
    benign: int
    benign_flagged: int

    @property
    def tpr_all(self) -> float | None:
        return pct(self.caught, self.attacks)

    @property
    def tpr_working(self) -> float | None:
        return pct(self.working_caught, self.working)

    @property
    def fpr(self) -> float | None:
        return pct(self.benign_flagged, self.benign)

    @property
    def balanced_accuracy(self) -> float | None:
        tpr, fpr = self.tpr_all, self.fpr
        if tpr is None or fpr is None:
            return None
        return (tpr + 1 - fpr) / 2


def _benign_class(rec: Record) -> str | None:
    """Benign traffic counts against the class of the endpoint it was aimed at."""
    spec = ENDPOINTS.get(rec.endpoint)
    return spec[2] if spec else None


def class_rows(results: Mapping[str, Any], records: Sequence[Record]) -> dict[str, list[ClassRow]]:
    """Per class, one row per configuration that ran (``none`` left out)."""
    detect = [r for r in records if r.pass_name == DETECT_PASS]
    benign_by_class: dict[str, list[Record]] = defaultdict(list)
    for r in detect:
        if r.label == "benign" and (cls := _benign_class(r)):
            benign_by_class[cls].append(r)
    out: dict[str, list[ClassRow]] = {}
    classes = sorted({c for cfg in results.get("configs", {}).values() for c in cfg.get("per_class", {})})
    for cls in classes:
        rows: list[ClassRow] = []
        for name, cfg in results.get("configs", {}).items():
            if name not in CONFIGS or not CONFIGS[name].layers:
                continue
            pc = cfg.get("per_class", {}).get(cls)
            if pc is None:
                continue
            layers = CONFIGS[name].layers
            benign = benign_by_class.get(cls, [])
            rows.append(
                ClassRow(
                    attack_class=cls,
                    config=name,
                    attacks=int(pc["total"]),
                    caught=int(pc["caught"]),
                    working=int(pc["working"]),
                    working_caught=int(pc.get("working_caught", 0)),
                    stopped=int(pc["stopped"]),
                    benign=len(benign),
                    benign_flagged=sum(r.flagged_by(layers) for r in benign),
                )
            )
        out[cls] = rows
    return out


@dataclass(frozen=True, slots=True)
class Evasion:
    """A working exploit that one layer flagged and the other let through."""

    record: Record
    caught_by: str
    missed_by: str


def evasions(records: Sequence[Record], waf_layer: str, present: Sequence[str]) -> dict[str, list[Evasion]]:
    """Working exploits past the perimeter but caught at the sink (``past_waf``) and the reverse
    (``past_rasp``), for one WAF layer."""
    out: dict[str, list[Evasion]] = {"past_waf": [], "past_rasp": []}
    if waf_layer not in present or "rasp" not in present:
        return out
    for r in records:
        if r.pass_name != DETECT_PASS or r.label != "attack" or not r.worked:
            continue
        w, s = r.flagged_by((waf_layer,)), r.flagged_by(("rasp",))
        if s and not w:
            out["past_waf"].append(Evasion(r, "rasp", waf_layer))
        elif w and not s:
            out["past_rasp"].append(Evasion(r, waf_layer, "rasp"))
    return out


def verdict_text(rec: Record, layer: str) -> str:
    """``block: 942100,942190`` / ``detect: sql_injection`` / ``allow`` / ``-`` (not measured)."""
    v = rec.verdicts.get(layer)
    if v is None:
        return "-"
    why = v.rules if LAYERS[layer].kind == "waf" else v.detections
    return f"{v.decision}: {','.join(why)}" if why else v.decision


def effects_text(rec: Record) -> str:
    kinds = sorted({str(e.get("kind")) for e in rec.effects})
    parts = list(kinds)
    parts.extend(e for e in rec.evidence if not e.startswith("oracle:"))
    return ", ".join(parts) if parts else "-"
