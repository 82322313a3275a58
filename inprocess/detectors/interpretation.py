"""``interpretation``: the request could not be read the way the application will read it.

Not a sink check: capture (``inprocess.frameworks._capture``) records each ambiguity it
meets -- a repeated ``charset`` or ``boundary``, more values or deeper nesting than the
shared limits (``rampart.interpretation.InterpretationLimits``), a body too large to read --
on the request context, and the middleware judges them here before the handler runs. The
argument is the tuple of anomaly names; any anomaly is a detection (the attacker chose a
framing some reader may disagree about). Policy applies as for every detector: in
``detect`` mode it is logged, ``detectors.interpretation.enabled = false`` turns it off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inprocess.detectors import Detection, register

__all__ = ["detect"]

_REASONS = {
    "content_type_param_repeated": "a Content-Type parameter (charset, boundary) is given twice",
    "too_many_values": "more values than the inspection limit",
    "too_deep": "nesting deeper than the inspection limit",
    "body_unread": "a body larger than the guard reads",
}


@register("interpretation")
def detect(argument: Sequence[str], inputs: Sequence[Any] = (), **_options: Any) -> Detection | None:
    if not argument:
        return None
    reasons = "; ".join(_REASONS.get(a, a) for a in argument)
    return Detection(
        detector="interpretation",
        attack_class="protocol",
        confidence=0.9,
        reason=f"request framing the app may read differently: {reasons}",
        evidence=",".join(argument),
    )
