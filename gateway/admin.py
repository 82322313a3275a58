"""The admin listener (loopback by default): ``/healthz`` and Prometheus ``/metrics``.

Kept off the proxy's port so neither is reachable through the public listener.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from rampart.gateway.proxy import Gateway

__all__ = ["create_admin_app"]

_GATEWAY = web.AppKey("gateway", Gateway)


async def _healthz(request: web.Request) -> web.Response:
    gw = request.app[_GATEWAY]
    s = gw.settings
    return web.json_response(
        {
            "status": "ok" if gw.session is not None and not gw.session.closed else "starting",
            "mode": s.mode,
            "engines": [e.name for e in gw.runner.engines],
            "harness": s.harness,
        }
    )


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[_GATEWAY].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_admin_app(gateway: Gateway) -> web.Application:
    app = web.Application()
    app[_GATEWAY] = gateway
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app
