"""Policy: turn a detection into a decision (a frozen value the guard acts on)."""

from __future__ import annotations

from dataclasses import dataclass

from rampart.inprocess.config import Action, DetectorPolicy, GuardSettings
from rampart.inprocess.detectors import Detection

__all__ = ["BLOCKING_ACTIONS", "Decision", "decide"]

BLOCKING_ACTIONS: frozenset[Action] = frozenset({Action.BLOCK, Action.BLOCK_SESSION})


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    configured: Action

    @property
    def blocks(self) -> bool:
        return self.action in BLOCKING_ACTIONS


def decide(settings: GuardSettings, detection: Detection, policy: DetectorPolicy | None = None) -> Decision:
    """The configured action for the detector; in ``detect`` mode, and below the detector's
    ``min_confidence``, blocking actions are downgraded to ``log`` (a webhook still fires: it
    does not touch the request)."""
    if policy is None:
        policy = settings.policy_for(detection.detector)
    configured = policy.action
    action = configured
    if configured in BLOCKING_ACTIONS and (
        settings.mode != "block" or detection.confidence < policy.min_confidence
    ):
        action = Action.LOG
    return Decision(action=action, configured=configured)
