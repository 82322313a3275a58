"""Running the configured engines on one request.

The first engine enforces, the others shadow; all of them see every request. ``inspect`` is
synchronous CPU work: requests whose body is at most ``inline_body_bytes`` run inline on the
event loop (cheaper than a thread hop for the common small request); larger bodies, engines
that set ``slow = True``, and engines that say nothing (no ``slow`` attribute) whose
small-request inspections mostly take longer than ``offload_after_us`` run in a bounded thread
pool, so one slow inspection cannot stall every other connection. The last rule follows a
moving share with hysteresis: past one half the engine moves to the pool, below one fifth it
comes back inline (each move logged once), so a burst does not exile an engine for good.
Inline samples are wall time; pool samples are the worker thread's CPU time, so a pool run
waiting for the GIL does not count as slow.

An engine is called from several threads at once only when it sets ``thread_safe = True``
(the native engine does); otherwise a per-engine lock serialises its calls, and its calls go to
the pool while one is there, so the event loop never waits on that lock. A verdict that says
``budget_exceeded`` is counted and logged. Any exception fails open: the request is allowed,
the failure counted and logged
(:func:`gateway.decision.run_engine`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext

from gateway.audit import log_event
from gateway.config import EngineRunSettings
from gateway.decision import run_engine
from gateway.metrics import GatewayMetrics
from gateway.model import InspectionEngine, RawRequest, Verdict

__all__ = ["EngineRunner", "NamedEngine"]

logger = logging.getLogger("gateway.engines")

_OFFLOAD_ABOVE = 0.5  # moving share of slow small-request inspections that moves an engine off the loop
_INLINE_BELOW = 0.2  # ... and that brings it back


class NamedEngine:
    """An engine under its configured name (``native``, ``crs``), with its call guard."""

    __slots__ = (
        "adaptive",
        "count_lock",
        "engine",
        "guard",
        "in_pool",
        "name",
        "offload",
        "shared",
        "slow_share",
    )

    def __init__(self, name: str, engine: InspectionEngine) -> None:
        self.name = name
        self.engine = engine
        self.offload: bool = bool(getattr(engine, "slow", False))
        self.adaptive = not hasattr(engine, "slow")  # an engine that says where it runs is believed
        self.slow_share = 0.0  # moving share of inline inspections slower than offload_after_us
        self.shared = bool(getattr(engine, "thread_safe", False))
        self.guard: AbstractContextManager[object] = nullcontext() if self.shared else threading.Lock()
        self.in_pool = 0  # calls submitted to the pool and not yet finished
        self.count_lock = threading.Lock()


class EngineRunner:
    def __init__(
        self,
        engines: Sequence[NamedEngine],
        settings: EngineRunSettings,
        metrics: GatewayMetrics,
        *,
        threshold: int,
    ) -> None:
        if not engines:
            raise ValueError("at least one engine is needed")
        self.engines = tuple(engines)
        self.settings = settings
        self.metrics = metrics
        self.threshold = threshold
        self._pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="rampart-engine")
        self._timers = {
            (e.name, where): metrics.engine_seconds.labels(e.name, where)
            for e in self.engines
            for where in ("inline", "pool")
        }
        self._over_budget = {e.name: metrics.budget_exceeded.labels(e.name) for e in self.engines}
        self._verdicts = {
            (e.name, d): metrics.verdicts.labels(e.name, d)
            for e in self.engines
            for d in ("allow", "flagged", "error")
        }

    def _run(self, named: NamedEngine, request: RawRequest, where: str, *, sample: bool) -> Verdict:
        """One engine, failing open; ``sample``: the call counts towards the inline/pool choice."""
        start = time.perf_counter()
        cpu_start = time.thread_time() if where == "pool" else 0.0  # inline samples are wall time
        with named.guard:
            verdict = run_engine(named.engine, request, name=named.name, threshold=self.threshold)
        elapsed = time.perf_counter() - start
        if sample and named.adaptive:
            spent = elapsed if where == "inline" else time.thread_time() - cpu_start
            self._track(named, spent * 1e6)
        self._timers[(named.name, where)].observe(elapsed)
        kind = "error" if verdict.error is not None else "flagged" if verdict.flagged else "allow"
        self._verdicts[(named.name, kind)].inc()
        if verdict.budget_exceeded:
            self._over_budget[named.name].inc()
            log_event(
                logger,
                logging.WARNING,
                "engine_over_budget",
                engine=named.name,
                request_id=request.request_id,
                flagged=verdict.flagged,
                elapsed_ms=f"{elapsed * 1000:.0f}",
            )
        if verdict.error is not None:
            self.metrics.engine_errors.labels(named.name).inc()
        return verdict

    def _track(self, named: NamedEngine, sample_us: float) -> None:
        """Moving share (weight 0.1) of small-request inspections slower than
        ``offload_after_us``: above one half the engine moves to the pool, below one fifth it
        returns inline. A share, not a mean: rare huge samples must not move a fast engine;
        the gap between the two marks keeps an engine near the edge from flapping."""
        over = 1.0 if sample_us > self.settings.offload_after_us else 0.0
        with named.count_lock:
            named.slow_share += (over - named.slow_share) * 0.1
            share = named.slow_share
            moved = share > _OFFLOAD_ABOVE if not named.offload else share < _INLINE_BELOW
            if moved:
                named.offload = not named.offload
        if moved:
            log_event(
                logger,
                logging.INFO,
                "engine_offloaded" if named.offload else "engine_inline",
                engine=named.name,
                share=f"{share:.2f}",
                last_us=f"{sample_us:.0f}",
            )

    async def inspect(self, request: RawRequest) -> tuple[Verdict, ...]:
        """Every engine's verdict, the enforcing engine's first.

        An engine that is not thread-safe and has a call in the pool goes to the pool too: run
        inline, it would wait for that call's lock on the event loop."""
        big = len(request.body) > self.settings.inline_body_bytes
        pooled = [big or e.offload or (e.in_pool > 0 and not e.shared) for e in self.engines]
        if not any(pooled):
            return tuple(self._run(e, request, "inline", sample=True) for e in self.engines)
        loop = asyncio.get_running_loop()
        jobs: list[asyncio.Future[Verdict] | None] = []
        for named, off in zip(self.engines, pooled, strict=True):
            if off:
                with named.count_lock:
                    named.in_pool += 1
                jobs.append(loop.run_in_executor(self._pool, self._run_pooled, named, request, not big))
            else:
                jobs.append(None)
        out: list[Verdict] = []
        for named, job in zip(self.engines, jobs, strict=True):
            out.append(
                await job if job is not None else self._run(named, request, "inline", sample=not big)
            )
        return tuple(out)

    def _run_pooled(self, named: NamedEngine, request: RawRequest, sample: bool) -> Verdict:
        """In a worker thread; the count drops when the call has really finished (a cancelled
        request does not stop the thread)."""
        try:
            return self._run(named, request, "pool", sample=sample)
        finally:
            with named.count_lock:
                named.in_pool -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for named in self.engines:
            try:
                named.engine.close()
            except Exception as exc:
                log_event(logger, logging.WARNING, "engine_close_failed", engine=named.name, error=exc)
