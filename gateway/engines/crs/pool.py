"""Run CRS inspections in worker processes, so they stop competing for the proxy's GIL.

The libmodsecurity binding holds the GIL for a whole transaction (measured: a Python thread
gets about a quarter of its normal progress while another thread inspects), so moving
``inspect`` to a thread pool does not free the proxy's event loop: a request with thousands
of JSON fields (hundreds of milliseconds in CRS) stalls every connection. Each worker process
compiles its own rule set once; the calling thread only waits, which releases the GIL.

This is the generic :class:`rampart.gateway.engines.pool.EngineProcessPool` with the CRS engine's
calling convention: the pool starts before the engine is used, a call waits for a worker
being replaced, and a worker that died surfaces as ``BrokenProcessPool`` (the call that found
it fails open like any engine error; the next call gets the replacement).
"""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool

from rampart.gateway.engines.pool import EngineFactory, EngineProcessPool, WorkerCrashed, WorkerOverran
from rampart.gateway.model import RawRequest, Verdict

__all__ = ["CrsProcessPool", "EngineFactory"]


class CrsProcessPool:
    """``processes`` workers, each with its own engine from ``factory``; ``inspect`` blocks the
    caller only."""

    def __init__(self, factory: EngineFactory, processes: int, *, timeout: float | None = None) -> None:
        self.factory = factory
        self.processes = processes
        self.timeout = timeout
        self._pool = EngineProcessPool(factory, processes)
        self._pool.start(wait=True)
        if self._pool.failed is not None:
            failure = self._pool.failed
            self._pool.close()
            raise RuntimeError(f"CRS worker failed to start: {failure}")

    def inspect(self, request: RawRequest) -> Verdict:
        """The worker's verdict. Raises ``TimeoutError`` past ``timeout`` (the worker is killed
        and replaced) and ``BrokenProcessPool`` when a worker died (it is replaced)."""
        try:
            return self._pool.inspect(request, self.timeout, wait=True)
        except WorkerCrashed as exc:
            raise BrokenProcessPool(str(exc)) from None
        except WorkerOverran as exc:
            raise TimeoutError(str(exc)) from None

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for supervision and tests)."""
        return self._pool.worker_pids()

    def close(self) -> None:
        self._pool.close()
