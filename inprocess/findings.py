"""Sink-guard incidents in the shared schema (``rampart.incidents``), and what a request
detected (``GuardDetection``, appended to ``RequestContext.detections``)."""

from __future__ import annotations

from dataclasses import dataclass

from rampart.incidents import Incident
from rampart.inprocess.context import RequestContext
from rampart.inprocess.detectors import Detection
from rampart.inprocess.policy import Decision

__all__ = ["ENGINE", "LAYER", "NO_REQUEST", "GuardDetection", "build_incident"]

LAYER = "rasp"
ENGINE = "sinkguard"
NO_REQUEST = "-"


@dataclass(frozen=True, slots=True)
class GuardDetection:
    detection: Detection
    decision: Decision
    sink: str
    operation: str

    @property
    def blocked(self) -> bool:
        return self.decision.blocks

    def same_finding(self, other: GuardDetection) -> bool:
        d, o = self.detection, other.detection
        return (d.detector, d.source, d.evidence, self.sink, self.operation) == (
            o.detector,
            o.source,
            o.evidence,
            other.sink,
            other.operation,
        )


def build_incident(found: GuardDetection, ctx: RequestContext | None) -> Incident:
    """One redacted, truncated incident line for ``found``."""
    d = found.detection
    return Incident.create(
        request_id=ctx.request_id if ctx is not None else NO_REQUEST,
        layer=LAYER,
        engine=ENGINE,
        rule=d.detector,
        attack_class=d.attack_class,
        action=found.decision.action.value,
        confidence=max(0.0, min(1.0, float(d.confidence))),
        evidence=d.evidence,
        sink=found.sink,
        operation=found.operation,
        message=f"{d.reason} (source: {d.source})" if d.source else d.reason,
    )
