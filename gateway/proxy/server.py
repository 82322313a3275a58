"""The gateway's own answer to requests aiohttp cannot parse.

aiohttp answers a malformed request (bad request line, bad header, a line over the limit, bad
chunking) and an unhandled exception from ``RequestHandler.handle_error`` before any
application code runs: a ``text/plain`` page that can echo the offending raw line (a bearer
token included), ``Server: Python/... aiohttp/...``, no security headers, no request id. The
app's ``on_response_prepare`` signal never fires for those responses (the request was never
routed).

:class:`GatewayRunner` is the seam: an ``AppRunner`` whose server builds
:class:`GatewayRequestHandler` connections, whose ``handle_error`` answers with the gateway's
own page (:func:`rampart.gateway.proxy.pages.render_page`: status and a fresh request id only), the
configured security headers, ``Cache-Control: no-store`` and no ``Server`` header.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from rampart.gateway.config import HeaderPolicy
from rampart.gateway.proxy.hardening import harden_response_headers
from rampart.gateway.proxy.pages import render_page
from rampart.requestid import HEADER as REQUEST_ID
from rampart.requestid import mint_request_id

__all__ = ["GatewayRequestHandler", "GatewayRunner", "GatewayServer", "bare_page"]

_SERVER = "Server"


class _BarePage(web.Response):
    """A response without the ``Server`` header aiohttp adds to every response head."""

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        self.headers.popall(_SERVER, None)


def bare_page(status: int, policy: HeaderPolicy, *, accept: str = "") -> web.Response:
    """The gateway's page for ``status`` with a fresh request id, the security headers of
    ``policy``, no ``Server`` header, and the connection closed after it."""
    rid = mint_request_id()
    page = render_page(status, rid, accept=accept)
    resp = _BarePage(status=status, body=page.body, headers={"Content-Type": page.content_type})
    resp.headers["Cache-Control"] = "no-store"
    resp.headers[REQUEST_ID] = rid
    harden_response_headers(policy, resp.headers)
    resp.force_close()
    return resp


class GatewayRequestHandler(RequestHandler):
    """aiohttp's connection handler with the gateway's error page."""

    policy: HeaderPolicy = HeaderPolicy()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """Let aiohttp log and check as it does (non-HTTP noise at debug level; the gateway's
        server logger turns parser errors into one counted line; a response already under
        way raises ``ConnectionError``), then answer with the gateway's own page instead of
        aiohttp's: ``message``, which may quote the client's input, is never sent."""
        super().handle_error(request, status, exc, message)
        accept = request.headers.get("Accept", "") if request.headers else ""
        return bare_page(status, self.policy, accept=accept)


class GatewayServer(web.Server):
    """``web.Server`` whose connections are :class:`GatewayRequestHandler` instances."""

    def __init__(self, handler: Any, *, policy: HeaderPolicy, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.policy = policy

    def __call__(self) -> RequestHandler:
        connection = GatewayRequestHandler(self, loop=self._loop, **self._kwargs)
        connection.policy = self.policy
        return connection


class GatewayRunner(web.AppRunner):
    """``AppRunner`` serving ``app`` through :class:`GatewayServer` (``policy``: the security
    headers of the error pages)."""

    def __init__(self, app: web.Application, *, policy: HeaderPolicy, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._policy = policy

    async def _make_server(self) -> web.Server:
        base = await super()._make_server()
        return GatewayServer(
            base.request_handler,
            policy=self._policy,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **base._kwargs,
        )
