"""Running the configured engines on one request.

The first engine enforces, the others shadow; all of them see every request. ``inspect`` is
synchronous CPU work, and where it runs depends on the body:

* at most ``inline_body_bytes``: inline on the event loop (cheaper than a thread hop for the
  common small request); the engine's cooperative budget bounds it;
* over ``process_body_bytes``, for an engine the gateway can rebuild (a ``factory``: its name
  and settings) and that does not run its own workers (``slow = True``): in a pool of
  ``processes`` worker *processes* per engine (:mod:`rampart.gateway.engines.pool`), so the inspection
  does not hold the proxy's GIL. The pool starts on the first such body; while no worker is
  free (starting, being replaced, or every one busy) such bodies take the thread path;
* otherwise (medium bodies, engines that set ``slow = True``, and engines that say nothing
  whose small-request inspections mostly take longer than ``offload_after_us``): a bounded
  thread pool. The last rule follows a moving share with hysteresis: past one half the engine
  moves to the pool, below one fifth it comes back inline (each move logged once), so a burst
  does not exile an engine for good. Inline samples are wall time; pool samples are the
  worker thread's CPU time, so a pool run waiting for the GIL does not count as slow.

A hard wall-clock answer: an inspection off the loop that has no verdict ``budget_ms +
budget_margin_ms`` after it started is answered by the gateway itself with a
``budget_exceeded`` verdict (scoring the threshold when ``over_budget`` is ``block``, nothing
when ``allow``), counted and logged once. A worker process still busy ``overrun_grace_ms``
later, and that has used the budget plus that grace in CPU on the request (or is twenty times
past the limit), is killed and replaced (counted by reason in ``engine_workers_replaced``); a thread
cannot be killed and stops at the engine's own cooperative check. An inline inspection is
small by construction and relies on that cooperative check alone.

An engine is called from several threads at once only when it sets ``thread_safe = True``
(the native engine does); otherwise a per-engine lock serialises its calls, and its calls go to
the thread pool while one is there, so the event loop never waits on that lock. A verdict that
says ``budget_exceeded`` is counted and logged. Any exception, and a worker process that dies,
fails open: the request is allowed, the failure counted and logged
(:func:`rampart.gateway.decision.run_engine`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext

from rampart.gateway.audit import log_event
from rampart.gateway.config import EngineRunSettings
from rampart.gateway.decision import run_engine
from rampart.gateway.engines.pool import (
    EngineFactory,
    EngineProcessPool,
    PoolBusy,
    PoolUnavailable,
    WorkerCrashed,
    WorkerOverran,
)
from rampart.gateway.metrics import GatewayMetrics
from rampart.gateway.model import InspectionEngine, RawRequest, RuleMatch, Verdict

__all__ = ["BUDGET_RULE_ID", "EngineRunner", "NamedEngine"]

logger = logging.getLogger("rampart.gateway.engines")

BUDGET_RULE_ID = "budget_exceeded"  # the rule id the native engine gives its own budget stop
_OFFLOAD_ABOVE = 0.5  # moving share of slow small-request inspections that moves an engine off the loop
_INLINE_BELOW = 0.2  # ... and that brings it back
_WHERE = ("inline", "pool", "process")
_HARD_FACTOR = 20.0  # a worker past the wall-clock limit is killed at this multiple of it at the latest
_HARD_FLOOR = 5.0  # ... and not before this many seconds


class NamedEngine:
    """An engine under its configured name (``native``, ``crs``), with its call guard and, when
    given, the ``factory`` that builds the same engine in a worker process."""

    __slots__ = (
        "adaptive",
        "count_lock",
        "engine",
        "factory",
        "guard",
        "in_pool",
        "name",
        "offload",
        "processes",
        "shared",
        "slow_share",
    )

    def __init__(self, name: str, engine: InspectionEngine, *, factory: EngineFactory | None = None) -> None:
        self.name = name
        self.engine = engine
        self.factory = factory
        self.offload: bool = bool(getattr(engine, "slow", False))
        self.adaptive = not hasattr(engine, "slow")  # an engine that says where it runs is believed
        self.slow_share = 0.0  # moving share of inline inspections slower than offload_after_us
        self.shared = bool(getattr(engine, "thread_safe", False))
        self.guard: AbstractContextManager[object] = nullcontext() if self.shared else threading.Lock()
        self.in_pool = 0  # calls submitted to the pool and not yet finished
        self.count_lock = threading.Lock()
        self.processes: EngineProcessPool | None = None  # set by the runner


class _Ticket:
    """Who reports one off-loop inspection: the worker that finished it, or the gateway that
    answered first at the wall-clock limit. Exactly one claim succeeds."""

    __slots__ = ("_lock", "_taken")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken = False

    @property
    def taken(self) -> bool:
        return self._taken

    def claim(self) -> bool:
        with self._lock:
            if self._taken:
                return False
            self._taken = True
            return True


def _retrieve(future: asyncio.Future[Verdict]) -> None:
    """Done callback of an inspection answered without it: mark its outcome retrieved."""
    if not future.cancelled():
        future.exception()


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
        budget = settings.budget_ms / 1000 if settings.budget_ms > 0 else None
        self.answer_after = None if budget is None else budget + settings.budget_margin_ms / 1000
        self.kill_after = (
            None if self.answer_after is None else self.answer_after + settings.overrun_grace_ms / 1000
        )
        # ... once it has also used the budget plus the grace in CPU (a starved worker is not a
        # runaway one), or at the latest after _HARD_FACTOR times the wall-clock limit
        self.kill_cpu = None if budget is None else budget + settings.overrun_grace_ms / 1000
        self.kill_hard = None if self.kill_after is None else max(_HARD_FLOOR, self.kill_after * _HARD_FACTOR)
        pooled = sum(settings.processes for named in self.engines if self._attach_processes(named))
        # threads that only wait on worker processes (no CPU): one per worker plus a few queued
        self._waiters = ThreadPoolExecutor(max_workers=pooled + 4, thread_name_prefix="rampart-engine-wait")
        self._timers = {
            (e.name, where): metrics.engine_seconds.labels(e.name, where)
            for e in self.engines
            for where in _WHERE
        }
        self._over_budget = {e.name: metrics.budget_exceeded.labels(e.name) for e in self.engines}
        self._verdicts = {
            (e.name, d): metrics.verdicts.labels(e.name, d)
            for e in self.engines
            for d in ("allow", "flagged", "error")
        }

    def start_processes(self, *, wait: bool = False, timeout: float = 120.0) -> bool:
        """Start every engine's worker processes now (they otherwise start on the first large
        body); ``wait``: until they are ready. True when every pool is ready (or none exists)."""
        pools = [e.processes for e in self.engines if e.processes is not None]
        for pool in pools:
            pool.start()
        return all(pool.wait_ready(timeout) for pool in pools) if wait else True

    def _replaced(self, engine: str, reason: str) -> None:
        self.metrics.engine_workers_replaced.labels(engine, reason).inc()
        log_event(logger, logging.WARNING, "engine_worker_replaced", engine=engine, reason=reason)

    def _run(
        self,
        named: NamedEngine,
        request: RawRequest,
        where: str,
        *,
        sample: bool,
        ticket: _Ticket | None = None,
    ) -> Verdict:
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
        if ticket is None or ticket.claim():
            self._count(named, request, verdict, elapsed)
        return verdict

    def _count(
        self, named: NamedEngine, request: RawRequest, verdict: Verdict, elapsed: float, by: str = "engine"
    ) -> None:
        """Count one reported verdict; an over-budget one is logged once (``by``: who stopped it)."""
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
                by=by,
            )
        if verdict.error is not None:
            self.metrics.engine_errors.labels(named.name).inc()

    def budget_verdict(self, named: NamedEngine, elapsed: float) -> Verdict:
        """The gateway's own verdict on an inspection with no answer at the wall-clock limit."""
        block = self.settings.over_budget == "block"
        match = RuleMatch(
            rule_id=BUDGET_RULE_ID,
            attack_class="anomaly",
            message=f"no verdict after {elapsed * 1000:.0f} ms (budget {self.settings.budget_ms:g} ms); "
            "answered by the gateway",
            severity="critical",
            score=self.threshold if block else 0,
            target="REQUEST",
            matched="",
            tags=("budget",),
        )
        return Verdict(
            engine=named.name,
            score=match.score,
            threshold=self.threshold,
            matches=(match,),
            elapsed_us=elapsed * 1e6,
            budget_exceeded=True,
        )

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

    def _where(self, named: NamedEngine, size: int) -> str:
        if size > self.settings.process_body_bytes and named.processes is not None:
            return "process"
        if (
            size > self.settings.inline_body_bytes
            or named.offload
            or (named.in_pool > 0 and not named.shared)
        ):
            return "pool"
        return "inline"

    async def inspect(self, request: RawRequest) -> tuple[Verdict, ...]:
        """Every engine's verdict, the enforcing engine's first.

        An engine that is not thread-safe and has a call in the pool goes to the pool too: run
        inline, it would wait for that call's lock on the event loop."""
        size = len(request.body)
        places = [self._where(e, size) for e in self.engines]
        if places.count("inline") == len(places):  # the usual case: list work, no generators
            return tuple([self._run(e, request, "inline", sample=True) for e in self.engines])
        big = size > self.settings.inline_body_bytes
        loop = asyncio.get_running_loop()
        started = loop.time()
        jobs: list[tuple[asyncio.Future[Verdict], _Ticket] | None] = []
        for named, place in zip(self.engines, places, strict=True):
            ticket = _Ticket()
            if place == "process":
                jobs.append(
                    (loop.run_in_executor(self._waiters, self._run_process, named, request, ticket), ticket)
                )
            elif place == "pool":
                with named.count_lock:
                    named.in_pool += 1
                jobs.append(
                    (
                        loop.run_in_executor(self._pool, self._run_pooled, named, request, not big, ticket),
                        ticket,
                    )
                )
            else:
                jobs.append(None)
        out: list[Verdict] = []
        for named, job in zip(self.engines, jobs, strict=True):
            if job is None:
                out.append(self._run(named, request, "inline", sample=not big))
            else:
                out.append(await self._answer(named, request, job[0], job[1], started))
        return tuple(out)

    async def _answer(
        self,
        named: NamedEngine,
        request: RawRequest,
        job: asyncio.Future[Verdict],
        ticket: _Ticket,
        started: float,
    ) -> Verdict:
        """The job's verdict, or the gateway's own ``budget_exceeded`` one at the wall-clock
        limit (the job goes on; its result is dropped)."""
        if self.answer_after is None:
            return await job
        loop = asyncio.get_running_loop()
        left = started + self.answer_after - loop.time()
        done, _ = await asyncio.wait({job}, timeout=max(0.0, left))
        if done or not ticket.claim():  # finished, or finishing: its verdict is on the way
            return await job
        job.add_done_callback(_retrieve)
        elapsed = loop.time() - started
        verdict = self.budget_verdict(named, elapsed)
        self._count(named, request, verdict, elapsed, by="gateway")
        return verdict

    def _run_pooled(
        self, named: NamedEngine, request: RawRequest, sample: bool, ticket: _Ticket | None = None
    ) -> Verdict:
        """In a worker thread; the count drops when the call has really finished (a cancelled
        request does not stop the thread). A call the gateway already answered while it
        waited in the queue is not run at all."""
        try:
            if ticket is not None and ticket.taken:
                return self.budget_verdict(named, 0.0)
            return self._run(named, request, "pool", sample=sample, ticket=ticket)
        finally:
            with named.count_lock:
                named.in_pool -= 1

    def _run_process(self, named: NamedEngine, request: RawRequest, ticket: _Ticket) -> Verdict:
        """In a waiter thread: the engine's worker process inspects; no worker ready yet (the
        pool is starting or replacing one): this thread inspects in-process instead."""
        pool = named.processes
        assert pool is not None
        if ticket.taken:  # answered by the gateway while queued: not worth a worker
            return self.budget_verdict(named, 0.0)
        start = time.perf_counter()
        try:
            verdict = pool.inspect(
                request, self.kill_after, cpu_limit=self.kill_cpu, hard_timeout=self.kill_hard
            )
        except PoolUnavailable:  # in the bounded thread pool, as a medium body would be
            with named.count_lock:
                named.in_pool += 1
            return self._pool.submit(self._run_pooled, named, request, False, ticket).result()
        except (WorkerOverran, PoolBusy):
            verdict = self.budget_verdict(named, time.perf_counter() - start)
        except (WorkerCrashed, RuntimeError) as exc:  # fail open, as run_engine does in-process
            error = f"{type(exc).__name__}: {exc}"
            log_event(
                logger,
                logging.WARNING,
                "engine_failed_open",
                engine=named.name,
                request_id=request.request_id,
                error=error[:300],
            )
            verdict = Verdict(engine=named.name, score=0, threshold=self.threshold, error=error)
        elapsed = time.perf_counter() - start
        self._timers[(named.name, "process")].observe(elapsed)
        if ticket.claim():
            self._count(named, request, verdict, elapsed, by="worker")
        return verdict

    def _attach_processes(self, named: NamedEngine) -> bool:
        """Give ``named`` its worker-process pool when it can have one (a factory, processes
        configured, not an engine that already runs out of process)."""
        if named.factory is None or self.settings.processes <= 0 or getattr(named.engine, "slow", False):
            return False
        named.processes = EngineProcessPool(
            named.factory,
            self.settings.processes,
            on_replaced=functools.partial(self._replaced, named.name),
        )
        return True

    def replace_engines(self, engines: Sequence[NamedEngine]) -> tuple[NamedEngine, ...]:
        """Swap in ``engines`` (same names, e.g. rebuilt by a reload) for new requests, with
        their own worker-process pools; returns the old ones, which the caller closes (pools
        included, :func:`rampart.gateway.reload.close_engines`) once their in-flight inspections are done."""
        if tuple(e.name for e in engines) != tuple(e.name for e in self.engines):
            raise ValueError("a reload keeps the configured engine names")
        for named in engines:
            self._attach_processes(named)
        old, self.engines = self.engines, tuple(engines)
        return old

    def close(self) -> None:
        for named in self.engines:
            if named.processes is not None:
                named.processes.close()
        self._waiters.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True, cancel_futures=True)
        for named in self.engines:
            try:
                named.engine.close()
            except Exception as exc:
                log_event(logger, logging.WARNING, "engine_close_failed", engine=named.name, error=exc)
