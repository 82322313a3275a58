"""Helpers shared by the detectors: the substring fast path and the Detection builder."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors import Detection

__all__ = ["EVIDENCE_MAX", "MIN_LEN", "Reporter", "occurrences", "occurring"]

MIN_LEN = 2
EVIDENCE_MAX = 256


def occurring(argument: str, inputs: Sequence[UserInput], min_len: int = MIN_LEN) -> Iterator[UserInput]:
    """String inputs of at least ``min_len`` characters that occur verbatim in ``argument``.

    This is every detector's fast path: a plain ``in`` check per input, nothing else, so a
    sink call whose argument holds no user input costs a few hundred nanoseconds.
    """
    for item in inputs:
        value = item.value
        if type(value) is str and len(value) >= min_len and value in argument:
            yield item


def occurrences(haystack: str, needle: str, limit: int = 32) -> Iterator[int]:
    """Start offsets of ``needle`` in ``haystack`` (bounded, overlapping allowed)."""
    start = haystack.find(needle)
    count = 0
    while start != -1 and count < limit:
        yield start
        count += 1
        start = haystack.find(needle, start + 1)


@dataclass(frozen=True, slots=True)
class Reporter:
    """Builds the :class:`Detection` of one detector id and attack class."""

    detector: str
    attack_class: str

    def __call__(self, confidence: float, reason: str, evidence: str, source: str | None) -> Detection:
        if len(evidence) > EVIDENCE_MAX:
            evidence = evidence[: EVIDENCE_MAX - 3] + "..."
        return Detection(self.detector, self.attack_class, confidence, reason, evidence, source)
