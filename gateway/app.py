"""The gateway app factory: settings in, a ready ``web.Application`` (and its admin app) out.

The app owns one pooled ``ClientSession`` to the upstream, the engines, the audit writer
and the rate-limit store, all opened and closed by its cleanup context.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict

from rampart.gateway.audit import AuditLog, BatchSink, log_event
from rampart.gateway.config import GatewaySettings
from rampart.gateway.metrics import GatewayMetrics
from rampart.gateway.proxy import Gateway, ProxyHandler
from rampart.gateway.proxy.accesslog import AccessLog
from rampart.gateway.proxy.inspection import EngineRunner, NamedEngine
from rampart.gateway.proxy.ratelimit import CircuitBreaker, RateLimiter, create_store
from rampart.gateway.proxy.server import GatewayRunner
from rampart.gateway.proxy.upstream import UpstreamPool
from rampart.gateway.reload import build_engines
from rampart.incidents import IncidentWriter

__all__ = [
    "GATEWAY",
    "build_gateway",
    "build_limiter",
    "check_rate_store",
    "create_app",
    "handler_args",
    "runner_factory",
]

GATEWAY = web.AppKey("gateway", Gateway)
logger = logging.getLogger("gateway")

# The gateway forwards exactly what the client sent: no default Accept, User-Agent, ...
_SKIP_AUTO = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
_SKIPPED: CIMultiDict[None] = CIMultiDict((name, None) for name in sorted(_SKIP_AUTO))


class _UpstreamRequest(aiohttp.ClientRequest):
    """aiohttp's client request without its per-request rebuild of the skipped auto headers.

    With ``skip_auto_headers`` set, aiohttp builds a sorted multidict of the names, copies
    the request's headers and extends the copy, for every request, only to find that there
    is nothing to add. The names are fixed here, so the multidict is built once; should a
    later aiohttp add a default header the gateway does not skip, its own method runs."""

    _adds_nothing = "User-Agent" in _SKIPPED and all(
        name in _SKIPPED for name in aiohttp.ClientRequest.DEFAULT_HEADERS
    )

    def update_auto_headers(self, skip_auto_headers: Iterable[str] | None) -> None:
        if self._adds_nothing and skip_auto_headers is not None:
            self._skip_auto_headers = _SKIPPED
        else:
            super().update_auto_headers(skip_auto_headers)


class _ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, minus tracebacks for requests it could not parse.

    aiohttp answers a malformed request with 400 itself and logs the parser exception with a
    traceback at ERROR; one line per malformed request (counted) is enough, and keeps a
    flood of garbage from flooding the log. Any other exception keeps its traceback.
    """

    def __init__(self, metrics: GatewayMetrics) -> None:
        super().__init__(logging.getLogger("gateway.server"), {})
        self._malformed = metrics.rejected.labels("malformed")

    def _parse_error(self, level: int, args: tuple[Any, ...], exc_info: Any) -> bool:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if not isinstance(exc, HttpProcessingError):
            return False
        if level > logging.DEBUG:
            self._malformed.inc()
        first = str(exc.message).splitlines()[0] if exc.message else type(exc).__name__
        log_event(
            self.logger,
            level,
            "malformed_request",
            status=exc.code,
            error=first,
            client=args[0] if args else None,
        )
        return True

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        if not self._parse_error(logging.INFO, args, exc_info):
            self.logger.error(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: object, *args: Any, exc_info: Any = None, **kwargs: Any) -> None:
        if exc_info is None or not self._parse_error(logging.DEBUG, args, exc_info):
            self.logger.debug(msg, *args, exc_info=exc_info, **kwargs)


def handler_args(settings: GatewaySettings, metrics: GatewayMetrics) -> dict[str, Any]:
    """Server-side parser limits, the header/idle timeout (slowloris), the quiet parser log."""
    return {
        "max_line_size": settings.limits.max_line_size,
        "max_field_size": settings.limits.max_field_size,
        "max_headers": settings.limits.max_headers * 2,
        "keepalive_timeout": settings.timeouts.client_header,
        "logger": _ServerLog(metrics),
    }


def build_gateway(settings: GatewaySettings, engines: Sequence[NamedEngine] | None = None) -> Gateway:
    """Construct engines (unless given), metrics, audit log and rate limiter."""
    metrics = GatewayMetrics()
    if engines is None:
        engines = build_engines(settings, settings.engines)
    runner = EngineRunner(engines, settings.engine, metrics, threshold=settings.threshold)
    a = settings.audit
    sinks: dict[str, BatchSink] = {}
    if a.database_url is not None:
        from rampart.incident_store import PostgresIncidentStore

        sinks["postgres"] = PostgresIncidentStore(a.database_url, table=a.table)
    audit = AuditLog(
        IncidentWriter(a.path, max_bytes=a.max_bytes, backups=a.backups),
        queue_size=a.queue_size,
        on_written=metrics.incidents.inc,
        on_dropped=metrics.incidents_dropped.inc,
        sinks=sinks,
        on_sink_dropped=lambda name, n: metrics.audit_sink_dropped.labels(name).inc(n),
    )
    limiter = build_limiter(settings, metrics) if settings.rate_limit.enabled else None
    access = None
    if settings.access_log.path is not None:
        access = AccessLog(settings.access_log, on_dropped=metrics.access_dropped.inc)
    return Gateway(
        settings=settings, metrics=metrics, runner=runner, audit=audit, limiter=limiter, access=access
    )


def build_limiter(settings: GatewaySettings, metrics: GatewayMetrics) -> RateLimiter:
    """The rate limiter over the configured store, behind a circuit breaker. A store failure
    is counted (and logged at debug level); a breaker state change is one log line."""
    rl = settings.rate_limit

    def store_failed(exc: Exception) -> None:
        metrics.rate_store_errors.inc()
        log_event(logger, logging.DEBUG, "rate_store_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    def breaker_changed(old: str, new: str) -> None:
        metrics.rate_store_breaker.labels(new).inc()
        level = logging.WARNING if new == "open" else logging.INFO
        log_event(
            logger,
            level,
            "rate_store_breaker",
            state=new,
            previous=old,
            store=_store_label(rl.store),
            then="allow" if rl.fail_open else "refuse",
            retry_in=f"{rl.breaker_reset:g}s" if new == "open" else None,
        )

    breaker = CircuitBreaker(failures=rl.breaker_failures, reset=rl.breaker_reset, on_change=breaker_changed)
    store = create_store(rl.store, connect_timeout=rl.connect_timeout, socket_timeout=rl.socket_timeout)
    return RateLimiter(
        rl, store, on_error=store_failed, on_skip=metrics.rate_store_skipped.inc, breaker=breaker
    )


def _store_label(url: str) -> str:
    """The store URL without credentials (``redis://user:pw@host`` -> ``redis://host``)."""
    scheme, sep, rest = url.partition("://")
    return scheme + sep + rest.rpartition("@")[2] if sep else url


async def check_rate_store(limiter: RateLimiter) -> bool:
    """Ping the store once and log whether it is reachable."""
    error = await limiter.check_store()
    store = _store_label(limiter.settings.store)
    if error is None:
        log_event(logger, logging.INFO, "rate_store_reachable", store=store)
        return True
    log_event(
        logger,
        logging.WARNING,
        "rate_store_unreachable",
        store=store,
        error=f"{type(error).__name__}: {error}"[:300],
        then="allow" if limiter.settings.fail_open else "refuse",
    )
    return False


def lean_upstream(settings: GatewaySettings) -> UpstreamPool | None:
    """The lean upstream client (:mod:`rampart.gateway.proxy.upstream`) for a plain-HTTP
    upstream; None for ``https://`` (aiohttp's client carries TLS). Call on the running loop."""
    parts = urlsplit(settings.upstream)
    if parts.scheme != "http" or parts.hostname is None:
        return None
    port = parts.port or 80
    t = settings.timeouts
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return UpstreamPool(
        parts.hostname,
        port,
        limit=settings.upstream_connections,
        connect_timeout=t.upstream_connect,
        read_timeout=t.upstream_read,
        # the Host aiohttp's client would send: the upstream's own, unless the client's is kept
        host_header=None if settings.preserve_host else (host if port == 80 else f"{host}:{port}"),
    )


def create_app(settings: GatewaySettings, *, gateway: Gateway | None = None) -> web.Application:
    """The proxy app. ``gateway`` injects prebuilt parts (tests pass their own engines)."""
    gw = gateway if gateway is not None else build_gateway(settings)
    handler = ProxyHandler(gw)
    app = web.Application(
        handler_args=handler_args(settings, gw.metrics), client_max_size=settings.limits.max_body_bytes
    )
    app[GATEWAY] = gw

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        t = settings.timeouts
        gw.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.upstream_connections),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=t.upstream_connect, sock_read=t.upstream_read
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=_SKIP_AUTO,
            request_class=_UpstreamRequest,
        )
        gw.upstream = lean_upstream(settings)
        await _prepare_sinks(gw.audit)
        gw.audit.start()
        if gw.access is not None:
            gw.access.start()
        summaries = asyncio.create_task(_flush_summaries(gw), name="rampart-log-summaries")
        if gw.limiter is not None:
            await check_rate_store(gw.limiter)
        try:
            yield
        finally:
            summaries.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await summaries
            for summary in gw.summaries.values():
                summary.flush()
            await gw.session.close()
            if gw.upstream is not None:
                await gw.upstream.close()
            await gw.audit.close()
            if gw.access is not None:
                await gw.access.close()
            if gw.limiter is not None:
                await gw.limiter.close()
            gw.runner.close()

    app.cleanup_ctx.append(lifecycle)
    app.on_response_prepare.append(handler.on_response_prepare)
    if settings.harness and settings.workers > 1:
        app.on_response_prepare.append(_worker_header)
    app.router.add_route("*", "/{tail:.*}", handler.entry)
    return app


def runner_factory(settings: GatewaySettings) -> Callable[..., web.AppRunner]:
    """``AppRunner`` factory for the proxy app: aiohttp's own error pages (malformed requests)
    replaced by the gateway's (:mod:`rampart.gateway.proxy.server`)."""
    return functools.partial(GatewayRunner, policy=settings.headers)


async def _prepare_sinks(audit: AuditLog) -> None:
    """Create the incident table now, so a database problem shows at start (logged; the
    gateway serves anyway and the sink retries per batch)."""
    for name, sink in audit.sinks.items():
        ensure = getattr(sink, "ensure_schema", None)
        if ensure is None:
            continue
        try:
            await asyncio.to_thread(ensure)
        except Exception as exc:
            log_event(
                logger, logging.WARNING, "audit_sink_unreachable", sink=name, error=f"{type(exc).__name__}"
            )
        else:
            log_event(logger, logging.INFO, "audit_sink_ready", sink=name)


async def _flush_summaries(gw: Gateway) -> None:
    """Write each summary line at the end of its interval, even when no event follows."""
    interval = gw.settings.audit.summary_interval
    while True:
        await asyncio.sleep(interval)
        for summary in gw.summaries.values():
            summary.flush()


async def _worker_header(request: web.Request, response: web.StreamResponse) -> None:
    """Harness mode with several workers: which process answered (measurement only)."""
    response.headers["X-Rampart-Worker"] = str(os.getpid())


def serve(settings: GatewaySettings, *, reload_settings: Callable[[], GatewaySettings] | None = None) -> int:
    """Run in the foreground until SIGINT/SIGTERM: the proxy (ready line ``gateway ready:``)
    and, when ``admin_port`` is set, the admin listener (announced on the line before).

    SIGHUP reopens the log files and reloads the rules without dropping a connection
    (:mod:`rampart.gateway.reload`). With ``settings.workers > 1`` a supervisor runs that many worker
    processes instead (:mod:`rampart.gateway.workers.supervisor`), which passes SIGHUP on to them. Both
    re-read the settings with ``reload_settings`` (None: the same settings, fresh rule files)."""
    if settings.workers > 1:
        from rampart.gateway.workers.supervisor import serve_workers

        return serve_workers(settings, reload_settings=reload_settings)
    from rampart.gateway.admin import create_admin_app
    from rampart.serve import Listener, run_forever, serve_apps, settle_heap

    try:
        gw = build_gateway(settings)
    except Exception as exc:  # a rule file, CRS setup or store URL the engines cannot use
        print(f"rampart gateway: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings, gateway=gw)
    listeners = [Listener(app, settings.host, settings.port, name="gateway", runner=runner_factory(settings))]
    if settings.admin_port is not None:
        listeners.append(
            Listener(create_admin_app(gw), settings.admin_host, settings.admin_port, option="--admin-port")
        )

    from rampart.gateway.reload import Reloader

    reloader = Reloader(gw, reload_settings)

    async def announce(bound: list[tuple[str, int]]) -> None:
        settle_heap()
        # SIGHUP: reopen the log files, then re-read settings and rules (rampart.gateway.reload)
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reloader.on_sighup)
        if len(bound) > 1:
            host, port = bound[1]
            print(f"gateway admin: http://{host}:{port} (/healthz, /metrics)", flush=True)
        log_event(
            logger,
            logging.INFO,
            "gateway_started",
            upstream=settings.upstream,
            mode=settings.mode,
            engines=",".join(settings.engines),
            harness=settings.harness,
        )

    async def main() -> None:
        await serve_apps(listeners, on_ready=announce)

    return run_forever(main, command="rampart gateway", fast=True)
