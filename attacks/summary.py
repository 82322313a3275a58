"""Figures from replay records: per configuration and per class (``report/results.json``).

Definitions (all from the records, see docs/REPORT.md):

- a configuration *catches* a case when any of its layers' detect-pass verdict is not
  ``allow``; ``attacks.caught`` counts attack cases caught, ``benign.flagged`` benign ones;
- a *working exploit* is an attack case whose effect the oracle confirmed in the detect
  pass (nothing blocks there, so the effect is the unprotected app's);
- a working exploit is *stopped* when the configuration's block pass shows a layer
  blocking it and the effect gone (or, for stored payloads, the page that would show it
  blocked); without a block pass the detect-pass catch stands in
  (``stopped_from`` says which), and ``none`` stops nothing;
- an imported attack no lab sink can judge (``graded: false``) is left out of all of the
  above and counted apart under ``flag_only`` (flagged / not flagged, nothing more);
- ``sources`` repeats every configuration's figures for each corpus source
  (``rampart``, ``gotestwaf:<set>``, ``crs-ftw:<version>``, ...).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rampart.attacks.cases import BUILTIN_SOURCE
from rampart.attacks.replay.configs import CONFIGS, LAYERS, LayerConfig
from rampart.attacks.replay.peers import peer_pass_name, status_detection
from rampart.attacks.replay.records import LayerVerdict, Record

__all__ = [
    "DETECT_PASS",
    "block_pass_name",
    "corpus_figures",
    "overlap",
    "source_order",
    "summarize",
]

DETECT_PASS = "detect"  # noqa: S105 - a pass name, not a secret


def block_pass_name(config: str) -> str:
    return f"block:{config}"


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def corpus_figures(records: Iterable[Record]) -> dict[str, Any]:
    """``corpus`` block computed from the detect-pass records (when no loader stats exist)."""
    recs = [r for r in records if r.pass_name == DETECT_PASS]
    attacks = [r for r in recs if r.label == "attack"]
    out: dict[str, Any] = {
        "attack": len(attacks),
        "benign": len(recs) - len(attacks),
        "base_payloads": len({r.base_payload or r.case_id for r in attacks}),
        "classes": sorted({r.attack_class for r in attacks if r.attack_class}),
    }
    ungraded = sum(not r.graded for r in attacks)
    if ungraded:
        out["flag_only"] = ungraded
    return out


def source_order(sources: Iterable[str]) -> list[str]:
    """The built-in corpus first, then the imported sources by name."""
    return sorted(set(sources), key=lambda s: (s != BUILTIN_SOURCE, s))


def _confusion(caught: int, attacks: int, flagged: int, benign: int) -> dict[str, Any]:
    tpr = _ratio(caught, attacks)
    fpr = _ratio(flagged, benign)
    balanced = None
    if tpr is not None and fpr is not None:
        balanced = round((tpr + (1 - fpr)) / 2, 4)
    return {
        "tp": caught,
        "fn": attacks - caught,
        "fp": flagged,
        "tn": benign - flagged,
        "tpr": tpr,
        "fpr": fpr,
        "balanced_accuracy": balanced,
    }


def _config_figures(
    config: LayerConfig | tuple[tuple[str, ...], str],
    detect: Sequence[Record],
    block: Mapping[str, Record] | None,
) -> dict[str, Any]:
    layers, description = (config.layers, config.description) if isinstance(config, LayerConfig) else config
    attacks = [r for r in detect if r.label == "attack" and r.graded]
    flag_only = [r for r in detect if r.label == "attack" and not r.graded]
    benign = [r for r in detect if r.label == "benign"]
    working = [r for r in attacks if r.worked]
    caught = [r for r in attacks if r.flagged_by(layers)]
    working_caught = [r for r in working if r.flagged_by(layers)]
    flagged = [r for r in benign if r.flagged_by(layers)]

    def is_stopped(rec: Record) -> bool:
        if not layers:
            return False
        if block is None:
            return rec.flagged_by(layers)
        again = block.get(rec.case_id)
        return again is not None and not again.delivered and again.blocked_by(layers)

    stopped_ids = {r.case_id for r in working if is_stopped(r)}
    per_class: dict[str, dict[str, Any]] = {}
    by_class: dict[str, list[Record]] = defaultdict(list)
    for rec in attacks:
        by_class[rec.attack_class or "unclassified"].append(rec)
    for cls in sorted(by_class):
        rows = by_class[cls]
        cls_working = [r for r in rows if r.worked]
        per_class[cls] = {
            "caught": sum(r.flagged_by(layers) for r in rows),
            "total": len(rows),
            "stopped": sum(r.case_id in stopped_ids for r in cls_working),
            "working": len(cls_working),
            "working_caught": sum(r.flagged_by(layers) for r in cls_working),
        }
    out: dict[str, Any] = {
        "layers": list(layers),
        "description": description,
        "attacks": {"caught": len(caught), "total": len(attacks)},
        "working_exploits": {
            "stopped": len(stopped_ids),
            "total": len(working),
            "caught": len(working_caught),
        },
        "benign": {"flagged": len(flagged), "total": len(benign)},
        "per_class": per_class,
        "over_attacks": _confusion(len(caught), len(attacks), len(flagged), len(benign)),
        "over_working_exploits": _confusion(len(working_caught), len(working), len(flagged), len(benign)),
        "stopped_from": "none" if not layers else ("block_pass" if block is not None else "detect_pass"),
    }
    if flag_only:
        fo_class: dict[str, list[Record]] = defaultdict(list)
        for rec in flag_only:
            fo_class[rec.attack_class or "unclassified"].append(rec)
        out["flag_only"] = {
            "flagged": sum(r.flagged_by(layers) for r in flag_only),
            "total": len(flag_only),
            "per_class": {
                cls: {"flagged": sum(r.flagged_by(layers) for r in rows), "total": len(rows)}
                for cls, rows in sorted(fo_class.items())
            },
        }
    if block is not None and layers:
        benign_ids = {r.case_id: r for r in benign}
        resent_benign = [r for cid, r in block.items() if cid in benign_ids]
        blocked_benign = [
            r for r in resent_benign if r.blocked_by(layers) or (r.status != benign_ids[r.case_id].status)
        ]
        resent_working = [block[r.case_id] for r in working if r.case_id in block]
        out["block_pass"] = {
            "working_resent": len(resent_working),
            "working_stopped": len(stopped_ids),
            "working_still_worked": sum(r.delivered for r in resent_working),
            "working_not_reproduced": sum(
                (not r.worked) and not r.blocked_by(layers) for r in resent_working
            ),
            "benign_resent": len(resent_benign),
            "benign_blocked": len(blocked_benign),
            "errors": sum(r.error is not None and r.status is None for r in block.values()),
        }
    return out


def overlap(detect: Sequence[Record], waf_layer: str, rasp_layer: str = "rasp") -> dict[str, Any]:
    """Which attacks only the WAF layer, only the sink guard, both or neither flagged."""

    def split(rows: Sequence[Record]) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {"only_waf": [], "only_rasp": [], "both": [], "neither": []}
        for r in rows:
            w, s = r.flagged_by((waf_layer,)), r.flagged_by((rasp_layer,))
            key = "both" if w and s else "only_waf" if w else "only_rasp" if s else "neither"
            groups[key].append(r.case_id)
        return groups

    attacks = [r for r in detect if r.label == "attack"]
    working = [r for r in attacks if r.worked]
    return {"waf_layer": waf_layer, "attacks": split(attacks), "working_exploits": split(working)}


def peer_records(detect: Sequence[Record], peer_pass: Sequence[Record], peer: str) -> list[Record]:
    """The detect pass seen through a peer: each case's detect record with the peer's verdict.

    Whether an exploit works stays the unprotected lab's (the detect pass); a block read from
    a status code the unprotected lab itself answered for that case is not the peer's doing."""
    seen = {r.case_id: r for r in peer_pass}
    out: list[Record] = []
    for rec in detect:
        again = seen.get(rec.case_id)
        if again is None:
            continue
        verdict = again.verdicts.get(peer, LayerVerdict(decision="allow"))
        if rec.status is not None and verdict.detections == (status_detection(rec.status),):
            verdict = LayerVerdict(decision="allow")
        out.append(rec.model_copy(update={"verdicts": {peer: verdict}}))
    return out


def available_layers(detect: Sequence[Record]) -> set[str]:
    """Layers that reported a verdict on at least one detect-pass response."""
    return {name for r in detect for name in r.verdicts}


def summarize(
    records: Sequence[Record],
    *,
    configs: Sequence[str] | None = None,
    corpus: Mapping[str, Any] | None = None,
    layers: Iterable[str] | None = None,
    load: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The results summary with docs/CONTRACTS.md's keys (``corpus``, ``configs``, ``load``) and extras.

    ``layers`` names the layers that were running in the detect pass (default: those seen
    in any verdict header); a configuration needing a missing layer is listed under
    ``skipped`` with the reason instead of being reported with made-up zeros.
    """
    detect = [r for r in records if r.pass_name == DETECT_PASS]
    present = set(layers) if layers is not None else available_layers(detect)
    blocks: dict[str, dict[str, Record]] = defaultdict(dict)
    for r in records:
        if r.pass_name.startswith("block:"):
            blocks[r.pass_name.removeprefix("block:")][r.case_id] = r
    wanted = list(configs) if configs is not None else list(CONFIGS)
    out_configs: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for name in wanted:
        config = CONFIGS[name]
        missing = [layer for layer in config.layers if layer not in present]
        if missing:
            skipped[name] = f"layer(s) {', '.join(missing)} not running in the detect pass"
            continue
        out_configs[name] = _config_figures(config, detect, blocks.get(name))
    # peers: figures from their own pass, "stopped" from that same pass (they run in block mode)
    views: dict[str, tuple[tuple[tuple[str, ...], str], list[Record], dict[str, Record]]] = {}
    for peer, description in ((meta or {}).get("peers") or {}).items():
        own = [r for r in records if r.pass_name == peer_pass_name(peer)]
        if not own:
            continue
        views[peer] = (
            ((peer,), f"peer: {description}"),
            peer_records(detect, own, peer),
            {r.case_id: r for r in own},
        )
        out_configs[peer] = _config_figures(views[peer][0], views[peer][1], views[peer][2]) | {"peer": True}
    for peer, why in ((meta or {}).get("peers_skipped") or {}).items():
        skipped[peer] = f"peer did not run: {why}"
    overlaps = {
        name: overlap(detect, CONFIGS[name].layers[0])
        for name in ("waf+rasp", "crs+rasp")
        if name in out_configs
    }
    measured = [layer for layer in LAYERS if layer in present]
    working = [r for r in detect if r.label == "attack" and r.worked]
    through = [r.case_id for r in working if not r.flagged_by(measured)]
    result: dict[str, Any] = {
        "corpus": dict(corpus) if corpus is not None else corpus_figures(detect),
        "configs": out_configs,
        "overlap": {
            name: {
                "waf_layer": o["waf_layer"],
                "attacks": {k: len(v) for k, v in o["attacks"].items()},
                "working_exploits": {k: len(v) for k, v in o["working_exploits"].items()},
            }
            for name, o in overlaps.items()
        },
        "through_everything": {"layers": measured, "count": len(through), "case_ids": through},
        "layers": measured,
        "passes": dict(sorted(Counter(r.pass_name for r in records).items())),
        "errors": sum(r.error is not None for r in detect),
    }
    sources = source_order(r.source for r in detect)
    if sources:
        result["sources"] = {}
        for src in sources:
            sub = [r for r in detect if r.source == src]
            ids = {r.case_id for r in sub}
            per: dict[str, Any] = {}
            for name in out_configs:
                if name in views:
                    spec, seen, again = views[name]
                    per[name] = _config_figures(spec, [r for r in seen if r.case_id in ids], again)
                else:
                    block = {k: v for k, v in blocks[name].items() if k in ids} if name in blocks else None
                    per[name] = _config_figures(CONFIGS[name], sub, block)
            result["sources"][src] = {"corpus": corpus_figures(sub), "configs": per}
    if skipped:
        result["skipped"] = skipped
    if load:
        result["load"] = dict(load)
    if meta:
        result["meta"] = dict(meta)
    return result
