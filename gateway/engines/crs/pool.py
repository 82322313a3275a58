"""Run CRS inspections in worker processes, so they stop competing for the proxy's GIL.

The libmodsecurity binding holds the GIL for a whole transaction (measured: a Python thread
gets about a quarter of its normal progress while another thread inspects), so moving
``inspect`` to a thread pool does not free the proxy's event loop: a request with thousands
of JSON fields (hundreds of milliseconds in CRS) stalls every connection. Here each worker
process compiles its own rule set once; the calling thread only waits on a future, which
releases the GIL, and the event loop keeps serving while CRS works.

The pool receives an engine *factory* (a picklable callable that builds the in-process
engine in each worker), so it imports no engine itself. A worker that dies (a crash inside
libmodsecurity) breaks the pool; the next call rebuilds it, and the call that found it broken
fails open like any engine error.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from gateway.model import InspectionEngine, RawRequest, Verdict

__all__ = ["CrsProcessPool", "EngineFactory"]

EngineFactory = Callable[[], InspectionEngine]
"""Builds one in-process engine; called once in each worker (must pickle: a module-level
function or a ``functools.partial`` of a class)."""

_worker_engine: InspectionEngine | None = None


def _init_worker(factory: EngineFactory) -> None:
    """Build this worker's engine once."""
    from rampart import netguard

    global _worker_engine
    netguard.install_from_env()
    _worker_engine = factory()


def _worker_ping() -> bool:
    return _worker_engine is not None


def _worker_inspect(request: RawRequest) -> Verdict:
    engine = _worker_engine
    assert engine is not None, "worker not initialised"
    return engine.inspect(request)


class CrsProcessPool:
    """``processes`` workers, each with its own engine from ``factory``; ``inspect`` blocks the
    caller only."""

    def __init__(self, factory: EngineFactory, processes: int, *, timeout: float | None = None) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, not {processes}")
        self.factory = factory
        self.processes = processes
        self.timeout = timeout
        self._lock = threading.Lock()
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.factory,),
        )
        for future in [pool.submit(_worker_ping) for _ in range(self.processes)]:
            future.result(timeout=120)
        return pool

    def inspect(self, request: RawRequest) -> Verdict:
        """The worker's verdict. Raises ``TimeoutError`` past ``timeout`` and
        ``BrokenProcessPool`` when a worker died (the pool is rebuilt for the next call)."""
        pool = self._pool
        try:
            return pool.submit(_worker_inspect, request).result(timeout=self.timeout)
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = self._start()
            raise

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for supervision and tests)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return sorted(int(pid) for pid in processes)

    def close(self) -> None:
        with self._lock:
            self._pool.shutdown(wait=True, cancel_futures=True)
