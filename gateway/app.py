"""The gateway app factory: settings in, a ready ``web.Application`` (and its admin app) out.

The app owns one pooled ``ClientSession`` to the upstream, the engines, the audit writer
and the rate-limit store, all opened and closed by its cleanup context.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.audit import AuditLog, log_event
from gateway.config import GatewaySettings
from gateway.engines import create_engine
from gateway.metrics import GatewayMetrics
from gateway.proxy import Gateway, ProxyHandler
from gateway.proxy.inspection import EngineRunner, NamedEngine
from gateway.ratelimit import RateLimiter, create_store
from rampart.incidents import IncidentWriter

__all__ = ["GATEWAY", "build_gateway", "create_app", "handler_args"]

GATEWAY = web.AppKey("gateway", Gateway)
logger = logging.getLogger("gateway")

# The gateway forwards exactly what the client sent: no default Accept, User-Agent, ...
_SKIP_AUTO = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


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
        engine_settings = settings.engine_settings()
        engines = [NamedEngine(name, create_engine(name, engine_settings)) for name in settings.engines]
    runner = EngineRunner(engines, settings.engine, metrics, threshold=settings.threshold)
    audit = AuditLog(
        IncidentWriter(settings.audit.path),
        queue_size=settings.audit.queue_size,
        on_written=metrics.incidents.inc,
        on_dropped=metrics.incidents_dropped.inc,
    )
    limiter = None
    if settings.rate_limit.enabled:

        def store_failed(exc: Exception) -> None:
            metrics.rate_store_errors.inc()
            log_event(logger, logging.WARNING, "rate_store_failed", error=f"{type(exc).__name__}: {exc}")

        limiter = RateLimiter(
            settings.rate_limit, create_store(settings.rate_limit.store), on_error=store_failed
        )
    return Gateway(settings=settings, metrics=metrics, runner=runner, audit=audit, limiter=limiter)


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
        )
        gw.audit.start()
        try:
            yield
        finally:
            await gw.session.close()
            await gw.audit.close()
            if gw.limiter is not None:
                await gw.limiter.close()
            gw.runner.close()

    app.cleanup_ctx.append(lifecycle)
    app.on_response_prepare.append(handler.on_response_prepare)
    if settings.harness and settings.workers > 1:
        app.on_response_prepare.append(_worker_header)
    app.router.add_route("*", "/{tail:.*}", handler.handle)
    return app


async def _worker_header(request: web.Request, response: web.StreamResponse) -> None:
    """Harness mode with several workers: which process answered (measurement only)."""
    response.headers["X-Rampart-Worker"] = str(os.getpid())


def serve(settings: GatewaySettings, *, reload_settings: Callable[[], GatewaySettings] | None = None) -> int:
    """Run in the foreground until SIGINT/SIGTERM: the proxy (ready line ``gateway ready:``)
    and, when ``admin_port`` is set, the admin listener (announced on the line before).

    With ``settings.workers > 1`` a supervisor runs that many worker processes instead
    (:mod:`gateway.workers`); ``reload_settings`` is what SIGHUP re-reads there."""
    if settings.workers > 1:
        from gateway.workers import serve_workers

        return serve_workers(settings, reload_settings=reload_settings)
    from gateway.admin import create_admin_app
    from rampart.serve import Listener, run_forever, serve_apps

    try:
        gw = build_gateway(settings)
    except Exception as exc:  # a rule file, CRS setup or store URL the engines cannot use
        print(f"rampart gateway: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    listeners = [Listener(create_app(settings, gateway=gw), settings.host, settings.port, name="gateway")]
    if settings.admin_port is not None:
        listeners.append(
            Listener(create_admin_app(gw), settings.admin_host, settings.admin_port, option="--admin-port")
        )

    async def announce(bound: list[tuple[str, int]]) -> None:
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
