"""Inspections in worker processes: one slow body never holds the proxy's GIL.

A thread pool does not free the event loop from a CPU-bound inspection: the inspecting
thread and the loop share the GIL (measured: benign p95 rises from ~1 ms to 30-100 ms while a
1 MiB body is inspected in a thread). Here each worker is a process of its own that builds its
engine once from a *factory* (a picklable callable: a module-level function or a
``functools.partial`` of an engine class and its settings; compiled engines are never
pickled). The caller ships the :class:`~rampart.gateway.model.RawRequest` over a pipe and waits for the
:class:`~rampart.gateway.model.Verdict`; waiting releases the GIL.

Each worker serves one request at a time. :meth:`EngineProcessPool.inspect` takes an idle
worker, and:

* past its ``timeout`` the worker is killed (``SIGKILL``) and a replacement started in the
  background (:class:`WorkerOverran`): a pathological input cannot keep a core busy. With a
  ``cpu_limit``, a worker past ``timeout`` is killed only once it has also *used* that much CPU
  on the request (read from ``/proc``), or at ``hard_timeout``: on a loaded machine a worker
  that is merely starved of a core finishes instead of being rebuilt (rebuilding an engine
  costs far more CPU than the request);
* when the worker died (a crash in a native library) it is replaced too
  (:class:`WorkerCrashed`); the caller fails open;
* when no worker is free (all busy, starting, or being replaced) it raises
  :class:`PoolUnavailable` at once, unless asked to ``wait`` for one (then
  :class:`PoolBusy` past ``timeout``), so the caller can inspect in-process meanwhile.

Workers ignore SIGINT (the parent stops them) and exit when their pipe closes, so a parent
that dies does not leave them behind.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from rampart.gateway.model import InspectionEngine, RawRequest, Verdict

__all__ = [
    "EngineFactory",
    "EngineProcessPool",
    "PoolUnavailable",
    "WorkerCrashed",
    "WorkerOverran",
]

log = logging.getLogger(__name__)

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of process ``pid`` (Linux ``/proc``; None elsewhere or gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
        fields = data[data.rfind(b")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, ValueError, IndexError):
        return None


EngineFactory = Callable[[], InspectionEngine]
"""Builds one in-process engine; called once in each worker (must pickle)."""


class PoolUnavailable(RuntimeError):
    """No worker is alive yet (starting or being replaced), or the engine failed to build."""


class WorkerCrashed(RuntimeError):
    """The worker died while (or before) inspecting; it is being replaced."""


class WorkerOverran(TimeoutError):
    """The inspection did not finish in time; the worker was killed and is being replaced."""


class PoolBusy(TimeoutError):
    """Every worker stayed busy until the deadline."""


def _serve(conn: Connection, factory: EngineFactory) -> None:
    """A worker's life: build the engine, then answer requests until the pipe closes."""
    from rampart import netguard

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    netguard.install_from_env()
    try:
        engine = factory()
    except BaseException as exc:  # reported to the parent, which logs it once
        conn.send(("failed", f"{type(exc).__name__}: {exc}"[:500]))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break
        if request is None:
            break
        try:
            reply: tuple[str, object] = ("ok", engine.inspect(request))
        except Exception as exc:  # the parent's fail-open path reports it
            reply = ("error", f"{type(exc).__name__}: {exc}"[:500])
        conn.send(reply)
    engine.close()


@dataclass(eq=False, slots=True)
class _Worker:
    process: BaseProcess
    conn: Connection
    pid: int


class EngineProcessPool:
    """``processes`` workers, each with its own engine from ``factory``.

    Workers start in background threads (:meth:`start`); ``on_replaced(reason)`` is called
    once per worker killed or found dead (``overran`` or ``crashed``)."""

    def __init__(
        self,
        factory: EngineFactory,
        processes: int,
        *,
        start_timeout: float = 120.0,
        on_replaced: Callable[[str], None] | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, not {processes}")
        self.factory = factory
        self.processes = processes
        self.start_timeout = start_timeout
        self.on_replaced = on_replaced
        self.failed: str | None = None  # the factory's error, once it failed in a worker
        self.replaced = 0
        self._context = multiprocessing.get_context("spawn")
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting = 0
        self._started = False
        self._closed = False

    # -- life cycle ---------------------------------------------------------------------

    def start(self, *, wait: bool = False, timeout: float | None = None) -> None:
        """Start the workers (once); ``wait``: until every one is ready (or failed)."""
        with self._cond:
            first = not self._started
            self._started = True
        if first:
            for _ in range(self.processes):
                self._spawn()
        if wait:
            self.wait_ready(self.start_timeout if timeout is None else timeout)

    def wait_ready(self, timeout: float) -> bool:
        """True once ``processes`` workers are alive (idle or busy) before ``timeout``."""
        end = time.monotonic() + timeout
        with self._cond:
            while len(self._idle) + len(self._busy) < self.processes:
                left = end - time.monotonic()
                if left <= 0 or self.failed is not None or self._closed:
                    return False
                self._cond.wait(left)
            return True

    @property
    def started(self) -> bool:
        return self._started

    def _spawn(self) -> None:
        with self._cond:
            if self._closed or self.failed is not None:
                return
            self._starting += 1
        threading.Thread(target=self._boot, name="rampart-engine-boot", daemon=True).start()

    def _boot(self) -> None:
        """Start one worker process and wait (in this thread) until its engine is built."""
        worker: _Worker | None = None
        failure: str | None = None
        try:
            parent, child = self._context.Pipe(duplex=True)
            process = self._context.Process(
                target=_serve, args=(child, self.factory), name="rampart-engine-worker", daemon=True
            )
            process.start()
            child.close()
            if not parent.poll(self.start_timeout):
                failure = f"worker did not start within {self.start_timeout:g} s"
            else:
                kind, payload = parent.recv()
                if kind == "ready":
                    worker = _Worker(process, parent, int(payload))
                else:
                    failure = str(payload)
            if worker is None:
                process.kill()
                process.join(5)
                parent.close()
        except (OSError, EOFError) as exc:
            failure = f"worker did not start: {type(exc).__name__}: {exc}"
        with self._cond:
            self._starting -= 1
            if worker is not None and self._closed:
                self._stop(worker)
            elif worker is not None:
                self._idle.append(worker)
            else:
                self.failed = failure
            self._cond.notify_all()
        if failure is not None:
            log.error("engine worker failed to start: %s", failure)

    @staticmethod
    def _stop(worker: _Worker) -> None:
        try:
            worker.process.kill()
            worker.process.join(5)
        finally:
            worker.conn.close()

    def _replace(self, worker: _Worker, reason: str) -> None:
        """Kill ``worker`` (it overran or died) and start another in its place."""
        self._stop(worker)
        with self._cond:
            self._busy.discard(worker)
            self.replaced += 1
            self._cond.notify_all()
        if self.on_replaced is not None:
            self.on_replaced(reason)
        self._spawn()

    # -- inspection ---------------------------------------------------------------------

    def _acquire(self, end: float | None, *, wait: bool) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise PoolUnavailable("the pool is closed")
                if self._idle:
                    worker = self._idle.pop()
                    self._busy.add(worker)
                    return worker
                if self.failed is not None:
                    raise PoolUnavailable(f"the engine failed to start in a worker: {self.failed}")
                if not wait:
                    raise PoolUnavailable(
                        "every engine worker is busy" if self._busy else "no engine worker is ready"
                    )
                if not self._busy and not self._starting:
                    raise PoolUnavailable("no engine worker is ready")
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    raise PoolBusy("every engine worker stayed busy")
                self._cond.wait(left)

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            self._busy.discard(worker)
            if self._closed:
                self._stop(worker)
            else:
                self._idle.append(worker)
            self._cond.notify_all()

    def inspect(
        self,
        request: RawRequest,
        timeout: float | None = None,
        *,
        cpu_limit: float | None = None,
        hard_timeout: float | None = None,
        wait: bool = False,
    ) -> Verdict:
        """The verdict of an idle worker's engine; blocks the caller only (see the module
        docstring for the exceptions). An exception raised by the engine comes back as
        ``RuntimeError`` naming it."""
        if not self._started:
            self.start()
        begun = time.monotonic()
        end = None if timeout is None else begun + timeout
        worker = self._acquire(end, wait=wait)
        try:
            cpu_start = _cpu_seconds(worker.pid) if cpu_limit is not None else None
            worker.conn.send(request)
            left = None if end is None else max(0.0, end - time.monotonic())
            answered = worker.conn.poll(left)
            if not answered and cpu_limit is not None and cpu_start is not None:
                answered = self._starved(worker, cpu_start, cpu_limit, hard_timeout, begun)
            if answered:
                kind, payload = worker.conn.recv()
        except (EOFError, OSError) as exc:  # OSError: the pipe broke (TimeoutError is raised below)
            worker.process.join(2)  # it is gone or going: reap it to learn how it ended
            code = worker.process.exitcode
            self._replace(worker, "crashed")
            raise WorkerCrashed(
                f"engine worker {worker.pid} died (exit code {code}): {type(exc).__name__}"
            ) from None
        except Exception:  # the request did not pickle: the worker never saw it
            self._release(worker)
            raise
        if not answered:
            self._replace(worker, "overran")
            raise WorkerOverran(f"engine worker {worker.pid} overran; killed")
        self._release(worker)
        if kind == "error":
            raise RuntimeError(str(payload))
        if not isinstance(payload, Verdict):
            raise RuntimeError(f"engine worker answered {type(payload).__name__}, not a Verdict")
        return payload

    @staticmethod
    def _starved(
        worker: _Worker, cpu_start: float, cpu_limit: float, hard: float | None, begun: float
    ) -> bool:
        """Past the wall-clock timeout: wait on while the worker has used less than
        ``cpu_limit`` of CPU on this request (and ``hard`` has not passed). True: it answered."""
        while hard is None or time.monotonic() - begun < hard:
            used = _cpu_seconds(worker.pid)
            if used is None or used - cpu_start >= cpu_limit:
                return False
            if worker.conn.poll(0.05):
                return True
        return False

    @property
    def busy(self) -> int:
        """Workers inspecting a request now."""
        with self._cond:
            return len(self._busy)

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (idle or busy)."""
        with self._cond:
            return sorted(w.pid for w in (*self._idle, *self._busy))

    def close(self) -> None:
        """Stop every worker (idle ones at once, busy ones when their call returns)."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy)
            self._cond.notify_all()
        for worker in busy:  # the waiting caller sees it die and fails open
            worker.process.kill()
        for worker in idle:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
            worker.process.join(2)
            self._stop(worker)
