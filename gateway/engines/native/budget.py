"""A request's inspection budget, shared by the native wing's two engines (the YAML rules
engine and the SecLang engine that runs CRS).

The budget is CPU time of the inspecting thread: waiting for the GIL or for a core on a busy
machine does not count, nor does a garbage collection that happened to run in this thread
meanwhile (a collection runs in whichever thread allocates when a threshold is crossed, so its
cost belongs to no request in particular). The check is cooperative: the engines call
:meth:`Deadline.check` between stages and every few rules or values, and it raises
:class:`OverBudget` once the budget is spent. The gateway answers inspections that run off the
event loop on the wall clock as well (gateway/proxy/inspection.py).
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

from rampart.gateway.model import EngineSettings, RuleMatch

__all__ = ["BUDGET_RULE_ID", "Deadline", "OverBudget", "budget_match"]

BUDGET_RULE_ID = "budget_exceeded"


class OverBudget(Exception):
    """Raised inside an evaluation loop when the request's deadline has passed."""


_GC = threading.local()  # per thread: CPU seconds spent in garbage collection, and when the current one began


def _gc_spent() -> float:
    spent: float = getattr(_GC, "spent", 0.0)
    return spent


def _on_gc(phase: str, _info: dict[str, Any]) -> None:
    """``gc.callbacks`` hook: add each collection's CPU time to the collecting thread's tally."""
    if phase == "start":
        _GC.began = time.thread_time()
        return
    began: float | None = getattr(_GC, "began", None)
    if began is not None:
        _GC.spent = _gc_spent() + time.thread_time() - began
        _GC.began = None


if _on_gc not in gc.callbacks:
    gc.callbacks.append(_on_gc)


class Deadline:
    """One request's budget (``budget_ms`` <= 0: none). The wall clock, which never runs slower
    than the thread's CPU clock, is read first: the dearer CPU clock is read only once it has
    passed."""

    __slots__ = ("cpu_end", "cpu_start", "gc_start", "wall_end")

    def __init__(self, budget_ms: float) -> None:
        seconds = budget_ms / 1000 if budget_ms > 0 else float("inf")
        self.cpu_start = time.thread_time()
        self.wall_end = time.perf_counter() + seconds
        self.cpu_end = self.cpu_start + seconds
        self.gc_start = _gc_spent()

    def spent(self) -> float:
        """CPU seconds this request has used so far, garbage collections excluded."""
        return time.thread_time() - (_gc_spent() - self.gc_start) - self.cpu_start

    def spent_over(self) -> bool:
        """The thread's CPU time since the start, garbage collections excluded, passed the budget."""
        return time.thread_time() - (_gc_spent() - self.gc_start) > self.cpu_end

    def check(self) -> None:
        if time.perf_counter() > self.wall_end and self.spent_over():
            raise OverBudget


def budget_match(settings: EngineSettings, elapsed: float) -> RuleMatch:
    """The match an over-budget request carries (``elapsed``: CPU seconds); it scores the
    threshold only when the configured outcome is ``block``."""
    return RuleMatch(
        rule_id=BUDGET_RULE_ID,
        attack_class="anomaly",
        message=f"inspection stopped after {elapsed * 1000:.0f} ms of CPU (budget {settings.budget_ms:g} ms)",
        severity="critical",
        score=settings.threshold if settings.over_budget == "block" else 0,
        target="REQUEST",
        matched="",
        tags=("budget",),
    )
