"""``rampart gateway --workers N``: N gateway processes sharing one listening port.

The supervisor (this module) reserves the port, starts N :mod:`rampart.gateway.workers.worker` processes
that each bind it with ``SO_REUSEPORT`` (the kernel spreads connections over them) and
build their own engines, and serves the admin listener itself:

- ``/metrics`` is the sum of the workers' own registries, read over each worker's private
  Unix socket at scrape time (:mod:`rampart.gateway.workers.metrics_merge`). Chosen over
  prometheus_client's multiprocess mode because that mode is switched on process-wide by an
  environment variable before import, keeps mmap files per pid that must be cleaned, and
  would change the per-app registries the tests and in-process gateways rely on; reading
  snapshots costs nothing per request and the sum is exact for counters and histograms.
- ``/healthz`` lists every worker with its pid and its own health.

Shared state between workers goes only through the rate-limit store: with the ``memory``
store each worker counts alone (a warning says so); use ``redis://``.

SIGHUP re-reads the configuration (file, environment, flags) and the rule files. When only
rule settings changed (or none: the rule files themselves), the supervisor builds the engines
once to check every file, then tells each worker to swap its engines in place over its private
socket (:mod:`rampart.gateway.reload`): no process restarts and no connection is touched; a file that
does not load changes nothing and is logged (``reload_failed``, naming file, line and fix).
Any other change starts a new generation of workers on the same port, and once all of them
are ready stops the old ones gracefully: they stop accepting and their in-flight requests
finish (up to :data:`rampart.gateway.workers.worker.DRAIN_S`). A configuration or rule file that fails
(a worker of the new generation cannot start; its error, naming file, line and fix, is on
stderr) leaves the running workers in place. Connections the kernel had queued on an old
worker's socket but not handed over yet are reset when it closes unless
``net.ipv4.tcp_migrate_req`` is 1 (logged as ``reload_hint``); a reload in place has no such
window. SIGTERM/SIGINT stop every worker (in-flight requests finish within the shutdown
grace). A worker that dies is restarted; one that keeps dying stops the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from rampart.gateway.audit import log_event
from rampart.gateway.config import GatewaySettings
from rampart.gateway.workers.metrics_merge import merge_expositions
from rampart.ports import PortInUse, port_holder
from rampart.procs import ready_line

__all__ = ["Supervisor", "WorkerFailed", "reserve_port", "serve_workers"]

logger = logging.getLogger("rampart.gateway.workers.supervisor")
START_TIMEOUT_S = 300.0  # the CRS engine takes a while to load its rules
STOP_GRACE_S = 15.0
MAX_RESTARTS = 5  # within RESTART_WINDOW_S; more and the gateway stops
RESTART_WINDOW_S = 60.0


MIGRATE_SYSCTL = Path("/proc/sys/net/ipv4/tcp_migrate_req")
MIGRATE_HINT = (
    "a connection the kernel queued on a retiring worker's socket in the instant it closes is reset; "
    "sysctl net.ipv4.tcp_migrate_req=1 (Linux 5.14+) hands such connections to the new workers"
)


def _migrates_queued_connections() -> bool:
    """Whether the kernel moves connections queued on a closing SO_REUSEPORT listener to the
    group's other listeners (``net.ipv4.tcp_migrate_req``)."""
    try:
        return MIGRATE_SYSCTL.read_text().strip() == "1"
    except OSError:
        return False


class WorkerFailed(RuntimeError):
    """A worker exited before it was ready (its own error went to stderr)."""


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) a ``SO_REUSEPORT`` socket on ``host:port``: it resolves port 0
    and holds the port for the workers. Refuses a port that anything already listens on,
    including another gateway (``SO_REUSEPORT`` would silently share traffic with it)."""
    family, kind, proto, _, addr = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            from rampart.serve import bind_error

            raise bind_error(exc, host, port, "--port") from exc
        bound = sock.getsockname()[1]
        holder = port_holder(bound) if port else None
        if holder is not None:
            raise PortInUse(host, bound, holder)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class Worker:
    proc: asyncio.subprocess.Process
    socket: str
    generation: int
    retiring: bool = False

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Supervisor:
    """Starts, watches, reloads and stops the workers of one gateway."""

    settings: GatewaySettings
    port: int
    rundir: Path
    reload_settings: Callable[[], GatewaySettings] | None = None
    workers: list[Worker] = field(default_factory=list)
    failure: str | None = None
    _generation: int = 0
    _seq: int = 0
    _restarts: list[float] = field(default_factory=list)
    stopping: bool = False
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def _worker_settings(self, settings: GatewaySettings) -> dict[str, Any]:
        pinned = settings.model_copy(
            update={"host": self.settings.host, "port": self.port, "admin_port": None}
        )
        return pinned.model_dump(mode="json")

    async def _start_one(self, settings: GatewaySettings, generation: int) -> Worker:
        self._seq += 1
        path = str(self.rundir / f"w{self._seq}.sock")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rampart.gateway.workers.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        spec = {"settings": self._worker_settings(settings), "socket": path}
        proc.stdin.write(json.dumps(spec).encode() + b"\n")
        await proc.stdin.drain()
        proc.stdin.close()
        worker = Worker(proc, path, generation)
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            await self._stop([worker], grace=1.0)
            raise WorkerFailed(f"a worker was not ready within {START_TIMEOUT_S:g}s") from None
        if not line:
            code = await proc.wait()
            raise WorkerFailed(f"a worker exited before it was ready (exit {code}); see its error above")
        self._spawn(self._drain(proc.stdout))
        self._spawn(self._watch(worker))
        return worker

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _drain(stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            pass

    async def start_generation(self, settings: GatewaySettings) -> list[Worker]:
        """Start ``settings.workers`` workers; all ready, or none left running."""
        self._generation += 1
        results = await asyncio.gather(
            *(self._start_one(settings, self._generation) for _ in range(settings.workers)),
            return_exceptions=True,
        )
        started = [r for r in results if isinstance(r, Worker)]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            for w in started:
                w.retiring = True
            await self._stop(started)
            raise errors[0]
        return started

    async def _watch(self, worker: Worker) -> None:
        code = await worker.proc.wait()
        if worker.retiring or self.stopping:
            return
        log_event(logger, logging.WARNING, "worker_exited", pid=worker.pid, code=code)
        with contextlib.suppress(ValueError):
            self.workers.remove(worker)
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < RESTART_WINDOW_S] + [now]
        if len(self._restarts) > MAX_RESTARTS:
            self._fail(f"workers died {len(self._restarts)} times within {RESTART_WINDOW_S:g}s")
            return
        try:
            self.workers.append(await self._start_one(self.settings, worker.generation))
        except WorkerFailed as exc:
            self._fail(f"could not restart a worker: {exc}")

    def _fail(self, why: str) -> None:
        self.failure = why
        log_event(logger, logging.ERROR, "workers_failed", error=why)
        os.kill(os.getpid(), signal.SIGTERM)

    async def reload(self) -> bool:
        """SIGHUP: a new generation from freshly read settings, then the old one retires."""
        try:
            fresh = self.reload_settings() if self.reload_settings is not None else self.settings
        except Exception as exc:  # a broken config file: keep serving with the running workers
            log_event(logger, logging.ERROR, "reload_failed", error=f"{type(exc).__name__}: {exc}")
            return False
        if (fresh.host, fresh.port) != (self.settings.host, self.settings.port):
            log_event(
                logger, logging.WARNING, "reload_keeps_address", host=self.settings.host, port=self.port
            )
        if self._in_place(fresh):
            return await self._reload_in_place(fresh)
        return await self._replace(fresh)

    def _in_place(self, fresh: GatewaySettings) -> bool:
        """Only rule settings changed (or nothing): the workers can swap engines in place."""
        from rampart.gateway.reload import changed_keys, reloadable

        fixed = {"host", "port", "admin_host", "admin_port"}
        return all(reloadable(k) or k in fixed for k in changed_keys(self.settings, fresh))

    async def _reload_in_place(self, fresh: GatewaySettings) -> bool:
        """Build the engines once here to check every rule file, then tell each worker to swap
        its engines (``POST /reload``): no process restarts, no connection is touched. A worker
        that still fails (a file changed in between) makes the whole generation be replaced."""
        from rampart.gateway.reload import build_engines, close_engines

        try:
            checked = await asyncio.to_thread(build_engines, fresh, fresh.engines)
        except Exception as exc:  # RuleLoadError, ExclusionError, CrsLayoutError, SecLangLoadError...
            log_event(
                logger,
                logging.ERROR,
                "reload_failed",
                error=f"{type(exc).__name__}: {exc}",
                then="the running rules stay in force",
            )
            return False
        await asyncio.to_thread(close_engines, checked)
        live = list(self.workers)
        payload = {"settings": self._worker_settings(fresh)}
        answers = await asyncio.gather(*(self._post_reload(w, payload) for w in live))
        failed = [(w, a) for w, a in zip(live, answers, strict=True) if not a.get("reloaded")]
        if failed:
            worker, answer = failed[0]
            log_event(
                logger,
                logging.WARNING,
                "reload_in_place_failed",
                pid=worker.pid,
                error=answer.get("error"),
                then="replacing the workers",
            )
            return await self._replace(fresh)
        self.settings = fresh
        log_event(
            logger,
            logging.INFO,
            "reloaded",
            workers=len(live),
            pids=",".join(str(w.pid) for w in live),
            in_place=True,
        )
        return True

    async def _post_reload(self, worker: Worker, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=worker.socket)) as session:
                async with session.post(
                    "http://worker/reload", json=payload, timeout=aiohttp.ClientTimeout(total=START_TIMEOUT_S)
                ) as resp:
                    answer: dict[str, Any] = await resp.json()
                    return answer
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            return {"reloaded": False, "error": f"{type(exc).__name__}: {exc}"}

    async def _replace(self, fresh: GatewaySettings) -> bool:
        """A new generation of workers from ``fresh``, then the old one retires."""
        try:
            new = await self.start_generation(fresh)
        except WorkerFailed as exc:
            log_event(logger, logging.ERROR, "reload_failed", error=str(exc))
            return False
        old, self.workers, self.settings = self.workers, new, fresh
        for w in old:
            w.retiring = True
        if not _migrates_queued_connections():
            log_event(logger, logging.INFO, "reload_hint", hint=MIGRATE_HINT)
        await self._stop(old)
        log_event(logger, logging.INFO, "reloaded", workers=len(new), pids=",".join(str(w.pid) for w in new))
        return True

    async def _stop(self, workers: list[Worker], grace: float = STOP_GRACE_S) -> None:
        for w in workers:
            if w.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    w.proc.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                await asyncio.wait_for(w.proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    w.proc.kill()
                await w.proc.wait()

    async def stop(self) -> None:
        self.stopping = True
        await self._stop(self.workers)
        for task in list(self._tasks):
            task.cancel()

    # -- admin --------------------------------------------------------------------------

    async def _ask(self, worker: Worker, path: str) -> str | None:
        try:
            async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=worker.socket)) as session:
                async with session.get(f"http://worker{path}", timeout=aiohttp.ClientTimeout(total=5)) as r:
                    return await r.text()
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None

    async def metrics(self) -> bytes:
        live = list(self.workers)
        texts = await asyncio.gather(*(self._ask(w, "/metrics") for w in live))
        answered = [t for t in texts if t is not None]
        extra = (
            "# HELP rampart_gateway_workers Worker processes answering the metrics scrape.\n"
            "# TYPE rampart_gateway_workers gauge\n"
            f"rampart_gateway_workers {len(answered)}.0\n"
        )
        return merge_expositions(answered, extra=extra)

    async def health(self) -> dict[str, Any]:
        live = list(self.workers)
        answers = await asyncio.gather(*(self._ask(w, "/healthz") for w in live))
        rows = []
        first: dict[str, Any] = {}
        for w, text in zip(live, answers, strict=True):
            body = json.loads(text) if text else {"status": "unreachable"}
            first = first or body
            rows.append({"pid": w.pid, "generation": w.generation, "status": body.get("status")})
        healthy = len(rows) >= self.settings.workers and all(r["status"] == "ok" for r in rows)
        return {
            "status": "ok" if healthy else "degraded",
            "mode": first.get("mode", self.settings.mode),
            "engines": first.get("engines", list(self.settings.engines)),
            "harness": self.settings.harness,
            "workers": rows,
        }

    def admin_app(self) -> web.Application:
        async def healthz(request: web.Request) -> web.Response:
            return web.json_response(await self.health())

        async def metrics(request: web.Request) -> web.Response:
            return web.Response(body=await self.metrics(), headers={"Content-Type": CONTENT_TYPE_LATEST})

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/metrics", metrics)
        return app


def serve_workers(
    settings: GatewaySettings, *, reload_settings: Callable[[], GatewaySettings] | None = None
) -> int:
    """Run the supervisor in the foreground until SIGINT/SIGTERM; SIGHUP reloads.

    Prints ``gateway ready: http://HOST:PORT`` once every worker serves (and the admin line
    before it when ``admin_port`` is set), like the single-process gateway.
    """
    from rampart.serve import Listener, ListenError, run_forever, serve_apps

    try:
        reservation = reserve_port(settings.host, settings.port)
    except (PortInUse, ListenError) as exc:
        print(f"rampart gateway: {exc}", file=sys.stderr)
        return 2
    if settings.rate_limit.enabled and settings.rate_limit.store == "memory":
        print(
            f"rampart gateway: rate limits with the memory store are counted per worker "
            f"({settings.workers} workers: up to {settings.workers}x each limit); "
            "use --rate-limit-store redis://... to share them",
            file=sys.stderr,
        )
    port = reservation.getsockname()[1]
    rundir = Path(tempfile.mkdtemp(prefix="rampart-gateway-"))
    sup = Supervisor(settings, port, rundir, reload_settings)
    exit_code = 0

    async def main() -> None:
        nonlocal exit_code
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def request_stop() -> None:
            sup.stopping = True
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, request_stop)
        reloading: list[asyncio.Task[bool]] = []
        try:
            start = asyncio.ensure_future(sup.start_generation(settings))
            waiter = asyncio.ensure_future(stop.wait())
            await asyncio.wait({start, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not start.done():
                start.cancel()
                with contextlib.suppress(asyncio.CancelledError, WorkerFailed):
                    await start
                return
            try:
                sup.workers = start.result()
            except WorkerFailed as exc:
                print(f"rampart gateway: {exc}", file=sys.stderr)
                exit_code = 2
                return
            loop.add_signal_handler(
                signal.SIGHUP, lambda: reloading.append(asyncio.ensure_future(sup.reload()))
            )
            listeners = []
            if settings.admin_port is not None:
                listeners.append(
                    Listener(sup.admin_app(), settings.admin_host, settings.admin_port, option="--admin-port")
                )

            async def announce(bound: list[tuple[str, int]]) -> None:
                if bound:
                    host, admin_port = bound[0]
                    print(f"gateway admin: http://{host}:{admin_port} (/healthz, /metrics)", flush=True)
                log_event(
                    logger,
                    logging.INFO,
                    "gateway_started",
                    upstream=settings.upstream,
                    mode=settings.mode,
                    engines=",".join(settings.engines),
                    workers=settings.workers,
                    pids=",".join(str(w.pid) for w in sup.workers),
                )
                print(ready_line("gateway", settings.host, port), flush=True)

            await serve_apps(listeners, on_ready=announce, stop_event=stop, signals=())
            sup.stopping = True
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGHUP)
            for task in reloading:
                task.cancel()
            await sup.stop()

    try:
        code = run_forever(main, command="rampart gateway")
    finally:
        reservation.close()
        shutil.rmtree(rundir, ignore_errors=True)
    if sup.failure is not None:
        print(f"rampart gateway: {sup.failure}", file=sys.stderr)
        return 1
    return code or exit_code
