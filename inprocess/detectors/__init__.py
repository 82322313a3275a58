"""Detectors: pure functions of ``(sink argument, user inputs)`` -> :class:`Detection` or None.

A detector never patches or imports the library it judges. Each lives in its own module
and registers itself under a stable id (``sql``, ``shell``, ``nosql``, ``ssrf``, ``path``,
``template``, ``code``, ``deserialization``, ``prompt``, ``xss``, ``stored_xss``); sinks
look them up with :func:`get`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from rampart.registry import Registry

__all__ = ["Detection", "Detector", "detectors", "get", "names", "register"]


@dataclass(frozen=True, slots=True)
class Detection:
    detector: str  # registry id, e.g. "sql"
    attack_class: str  # rampart.classes value, e.g. "sql_injection"
    confidence: float  # 0..1
    reason: str  # short human explanation, e.g. "input changed token structure"
    evidence: str  # the offending input (or sink fragment); redacted when written
    source: str | None = None  # UserInput.source that caused it, None for sink-only checks


# detect(sink_argument, inputs: Sequence[rampart.inprocess.context.UserInput], **options) -> Detection | None
Detector = Callable[..., Detection | None]

detectors: Registry[Detector] = Registry("detector")
_MODULES = (
    "sql",
    "shell",
    "nosql",
    "ssrf",
    "path",
    "template",
    "code",
    "deserialization",
    "prompt",
    "xss",
    "interpretation",
)


def register(name: str, *, replace: bool = False) -> Callable[[Detector], Detector]:
    """Decorator: register a detector under its stable id."""
    return detectors.register(name, replace=replace)


def _load_all() -> None:
    for mod in _MODULES:
        importlib.import_module(f"rampart.inprocess.detectors.{mod}")


def get(name: str) -> Detector:
    """The detector with id ``name``; a miss lists every known id."""
    if name not in detectors:
        _load_all()
    return detectors.get(name)


def names() -> list[str]:
    _load_all()
    return list(detectors.names())
