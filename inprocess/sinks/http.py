"""Outbound HTTP sinks (SSRF).

* aiohttp client: ``ClientSession._request`` checks the URL as given; every hop (redirects
  included) is checked again at the *resolved* address: ``TCPConnector._create_direct_connection``
  notes the hop's URL and ``TCPConnector._resolve_host`` judges each address the resolver
  returned, so DNS rebinding and redirects to internal hosts are caught where they happen.
* ``http.client.HTTPConnection.connect`` (urllib) checks host and port before connecting.
* Everything else (requests/urllib3, httpx/httpcore, raw sockets): the ``socket.connect``
  audit hook (PEP 578) judges the address actually connected to -- skipped for connections
  the aiohttp hooks already judged.
"""

from __future__ import annotations

import contextvars
import functools
import socket
from collections.abc import Callable
from types import ModuleType
from typing import Any

from inprocess import runtime
from inprocess.sinks._patching import Patcher, version_at_least

__all__ = ["patch"]

SINK = "http"
_hop_url: contextvars.ContextVar[str | None] = contextvars.ContextVar("rampart_http_hop", default=None)
_in_aiohttp: contextvars.ContextVar[bool] = contextvars.ContextVar("rampart_in_aiohttp", default=False)


def _host_url(host: str, port: int | None, scheme: str = "http") -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{scheme}://{shown}" + (f":{port}" if port else "") + "/"


def _wrap_request(original: Any) -> Any:
    @functools.wraps(original)
    async def _request(self: Any, method: str, str_or_url: Any, *args: Any, **kwargs: Any) -> Any:
        runtime.check(SINK, "aiohttp.request", "ssrf", str(str_or_url))
        token = _in_aiohttp.set(True)
        try:
            return await original(self, method, str_or_url, *args, **kwargs)
        finally:
            _in_aiohttp.reset(token)

    return _request


def _wrap_direct_connection(original: Any) -> Any:
    @functools.wraps(original)
    async def _create_direct_connection(self: Any, req: Any, *args: Any, **kwargs: Any) -> Any:
        token = _hop_url.set(str(req.url))
        try:
            return await original(self, req, *args, **kwargs)
        finally:
            _hop_url.reset(token)

    return _create_direct_connection


def _wrap_resolve(original: Any) -> Any:
    @functools.wraps(original)
    async def _resolve_host(self: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        results = await original(self, host, port, *args, **kwargs)
        url = _hop_url.get() or _host_url(host, port)
        for result in results:
            address = result.get("host") if isinstance(result, dict) else None
            if isinstance(address, str):
                runtime.check(SINK, "aiohttp.connect", "ssrf", url, resolved_ip=address)
        return results

    return _resolve_host


def _wrap_http_client_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def connect(self: Any) -> Any:
        runtime.check(SINK, "http.client.connect", "ssrf", _host_url(str(self.host), self.port))
        return original(self)

    return connect


def _socket_connect(args: tuple[Any, ...]) -> None:
    sock, address = args[0], args[1]
    if _in_aiohttp.get() or runtime.active() is None:
        return
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    if not isinstance(address, tuple) or not address or not isinstance(address[0], str):
        return
    ip, port = address[0], address[1] if len(address) > 1 else None
    runtime.check(SINK, "socket.connect", "ssrf", _host_url(ip, port), resolved_ip=ip)


def _patch_aiohttp(patcher: Patcher, module: ModuleType) -> None:
    if not version_at_least("aiohttp", (3, 10)):
        return
    import aiohttp.client
    import aiohttp.connector

    patcher.wrap(aiohttp.client.ClientSession, "_request", _wrap_request)
    patcher.wrap(aiohttp.connector.TCPConnector, "_create_direct_connection", _wrap_direct_connection)
    patcher.wrap(aiohttp.connector.TCPConnector, "_resolve_host", _wrap_resolve)


def patch(patcher: Patcher) -> None:
    patcher.when_imported("aiohttp", lambda m: _patch_aiohttp(patcher, m))
    patcher.when_imported(
        "http.client", lambda m: patcher.wrap(m.HTTPConnection, "connect", _wrap_http_client_connect)
    )
    patcher.audit("socket.connect", _socket_connect)
