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

__all__ = ["Detection", "Detector", "get", "names", "register"]


@dataclass(frozen=True, slots=True)
class Detection:
    detector: str  # registry id, e.g. "sql"
    attack_class: str  # rampart.classes value, e.g. "sql_injection"
    confidence: float  # 0..1
    reason: str  # short human explanation, e.g. "input changed token structure"
    evidence: str  # the offending input (or sink fragment); redacted when written
    source: str | None = None  # UserInput.source that caused it, None for sink-only checks


# detect(sink_argument, inputs: Sequence[inprocess.context.UserInput], **options) -> Detection | None
Detector = Callable[..., Detection | None]

_REGISTRY: dict[str, Detector] = {}
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


def register(name: str) -> Callable[[Detector], Detector]:
    def deco(fn: Detector) -> Detector:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"detector {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def _load_all() -> None:
    for mod in _MODULES:
        importlib.import_module(f"inprocess.detectors.{mod}")


def get(name: str) -> Detector:
    if name not in _REGISTRY:
        _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)
