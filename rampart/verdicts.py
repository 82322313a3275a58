"""Harness-mode verdict headers (docs/CONTRACTS.md): formatting and parsing, defined once.

``X-Rampart-Waf: <allow|detect|block>; score=N; rules=id,id``
``X-Rampart-Rasp: <allow|detect|block>; detections=class,class``

Only ever emitted in harness mode; outside it a client learns a status code and an
incident id, nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "RASP_HEADER",
    "WAF_HEADER",
    "HeaderVerdict",
    "format_rasp_header",
    "format_waf_header",
    "parse_verdict_header",
]

WAF_HEADER = "X-Rampart-Waf"
RASP_HEADER = "X-Rampart-Rasp"
Decision = Literal["allow", "detect", "block"]
_DECISIONS: frozenset[str] = frozenset({"allow", "detect", "block"})


@dataclass(frozen=True, slots=True)
class HeaderVerdict:
    decision: Decision
    score: int = 0
    rules: tuple[str, ...] = field(default_factory=tuple)
    detections: tuple[str, ...] = field(default_factory=tuple)


def _join(items: tuple[str, ...] | list[str]) -> str:
    return ",".join(dict.fromkeys(i for i in items if i))


def format_waf_header(decision: Decision, score: int, rules: tuple[str, ...] | list[str]) -> str:
    return f"{decision}; score={int(score)}; rules={_join(rules)}"


def format_rasp_header(decision: Decision, detections: tuple[str, ...] | list[str]) -> str:
    return f"{decision}; detections={_join(detections)}"


def parse_verdict_header(value: str | None) -> HeaderVerdict | None:
    """Parse either header; ``None`` when absent. Raises ``ValueError`` when malformed."""
    if value is None:
        return None
    head, *params = (p.strip() for p in value.split(";"))
    if head not in _DECISIONS:
        raise ValueError(f"unknown verdict {head!r} in {value!r}")
    score = 0
    rules: tuple[str, ...] = ()
    detections: tuple[str, ...] = ()
    for param in params:
        key, sep, raw = param.partition("=")
        if not sep:
            raise ValueError(f"malformed parameter {param!r} in {value!r}")
        items = tuple(i for i in raw.split(",") if i)
        if key == "score":
            score = int(raw)
        elif key == "rules":
            rules = items
        elif key == "detections":
            detections = items
    decision: Decision = head  # type: ignore[assignment]
    return HeaderVerdict(decision, score, rules, detections)
