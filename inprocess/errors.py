"""Exceptions of the sink guard.

::

    Exception
     +-- Blocked            a sink call refused by policy (the only exception a sink lets escape)
     +-- GuardConfigError   invalid guard configuration (names the key and the fix)

``Blocked`` subclasses :class:`Exception` so executors, task groups and frameworks treat it as
an ordinary failure. Application code that swallows exceptions (``except Exception``) could
hide it; the framework middleware therefore also remembers the block on the request context
and answers 403 whatever the handler returned (see ``RequestState.blocked``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rampart.inprocess.detectors import Detection

__all__ = ["Blocked", "GuardConfigError"]


class Blocked(Exception):
    """A sink call refused by the guard's policy. ``incident`` is the request id."""

    def __init__(self, detection: Detection, *, sink: str, operation: str, incident: str) -> None:
        super().__init__(f"rampart blocked {sink}.{operation}: {detection.attack_class}")
        self.detection = detection
        self.sink = sink
        self.operation = operation
        self.incident = incident


class GuardConfigError(ValueError):
    """The guard configuration is invalid; the message names the key and the fix."""
