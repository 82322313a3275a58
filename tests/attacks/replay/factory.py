"""Synthetic replay records with known properties, for summary and report tests."""

from __future__ import annotations

import random

from rampart.attacks.replay.records import LayerVerdict, Record
from rampart.verdicts import Decision

CLASSES = ("sql_injection", "xss", "ssrf", "command_injection")
ENDPOINT = {"sql_injection": "L3", "xss": "L8", "ssrf": "L6", "command_injection": "L5"}
DECISIONS: tuple[Decision, ...] = ("allow", "detect")


def verdict(decision: Decision, layer: str) -> LayerVerdict:
    if layer == "rasp":
        return LayerVerdict(decision=decision, detections=("sql_injection",) if decision != "allow" else ())
    return LayerVerdict(
        decision=decision,
        score=5 if decision != "allow" else 0,
        rules=("942100",) if decision != "allow" else (),
    )


def record(
    case_id: str,
    *,
    label: str = "attack",
    cls: str | None = "sql_injection",
    native: Decision = "allow",
    crs: Decision = "allow",
    rasp: Decision = "allow",
    worked: bool = False,
    pass_name: str = "detect",
    status: int = 200,
    request: str = "GET /api/orders?id=1",
) -> Record:
    verdicts = {
        "native": verdict(native, "native"),
        "crs": verdict(crs, "crs"),
        "rasp": verdict(rasp, "rasp"),
    }
    return Record(
        pass_name=pass_name,
        case_id=case_id,
        label=label,  # type: ignore[arg-type]
        attack_class=cls if label == "attack" else None,
        endpoint=ENDPOINT.get(cls or "", "L8"),
        base_payload=f"{cls}-base-{case_id[-1]}" if label == "attack" else None,
        request_id=f"{case_id}.d",
        request=request,
        status=status,
        latency_ms=1.5,
        verdicts=verdicts,
        effects=[{"kind": "canary_leak", "detail": "x"}] if worked else [],
        worked=worked,
        evidence=("oracle:canary_leak",) if worked else (),
    )


def synthetic(seed: int = 7, per_class: int = 12, benign: int = 20) -> list[Record]:
    """Detect-pass records for attacks and benign cases, plus block passes that stop
    every working exploit a layer flagged (and block one benign case in ``waf``)."""
    rng = random.Random(seed)
    recs: list[Record] = []
    for cls in CLASSES:
        for i in range(per_class):
            recs.append(
                record(
                    f"{cls[:4]}-{i:03d}",
                    cls=cls,
                    native=rng.choice(DECISIONS),
                    crs=rng.choice(DECISIONS),
                    rasp=rng.choice(DECISIONS),
                    worked=rng.random() < 0.6,
                    request=f"GET /x?p=<script>alert({i})</script>&c={cls}",
                )
            )
    for i in range(benign):
        recs.append(
            record(
                f"ben-{i:03d}",
                label="benign",
                cls=None,
                native="detect" if i % 7 == 0 else "allow",
                rasp="detect" if i % 10 == 0 else "allow",
            )
        )
    detect = list(recs)
    for config, layers in (("waf", ("native",)), ("rasp", ("rasp",)), ("waf+rasp", ("native", "rasp"))):
        for r in detect:
            if r.label == "attack" and not r.worked:
                continue
            flagged = r.flagged_by(layers)
            decision: Decision = "block" if flagged else "allow"
            blocked_benign = config == "waf" and r.case_id == "ben-001"
            recs.append(
                record(
                    r.case_id,
                    label=r.label,
                    cls=r.attack_class,
                    native=decision if "native" in layers else "allow",
                    rasp=decision if "rasp" in layers else "allow",
                    worked=r.worked and not flagged,
                    pass_name=f"block:{config}",
                    status=403 if (flagged or blocked_benign) else 200,
                )
            )
    return recs
