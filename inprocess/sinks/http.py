"""Outbound HTTP sinks (SSRF), judged at the destination: the name a client asks to resolve
and every address it resolves to, whatever the spelling of the URL.

* Name resolution: ``socket.getaddrinfo`` is wrapped. Every Python client resolves through
  it -- ``socket.create_connection`` (``http.client``/``urllib``, ``httpx`` sync), urllib3
  and ``requests``, and asyncio's ``loop.getaddrinfo`` (``httpx`` async via anyio, aiohttp's
  ``ThreadedResolver``), which runs it in an executor thread that
  :mod:`rampart.inprocess.propagation` keeps in the request context. The detector receives the
  requested host (as the client spelled it: ``2130706433``, ``LocalHost``, a hosts-file name)
  and each resolved address, so "came from user input" and "is internal" are both judged.
* Redirect chains: the client call that starts a chain (``requests.Session.send``,
  ``httpx.Client.send``/``AsyncClient.send``, ``urllib.request.OpenerDirector.open``,
  ``urllib3.PoolManager.urlopen``, aiohttp ``ClientSession._request``) records its first URL;
  a later hop that resolves to an internal address is refused when that first URL was
  user-chosen, even if no input names the hop's host.
* aiohttp: ``TCPConnector._resolve_host`` judges each address its resolver returned (custom
  resolvers included) against the hop's URL; the ``getaddrinfo`` wrapper skips those calls.
* ``socket.connect`` (audit hook, PEP 578) judges the address actually connected to, for
  clients that connect to an IP without resolving. It sees an address, not the name behind
  it, so it applies no redirect-chain rule: the resolution of that name already did.
* uvloop (what uvicorn runs on when it is installed) resolves and connects in C, past both
  of the above: its ``Loop.getaddrinfo`` is judged like ``socket.getaddrinfo``, and its
  ``create_connection``/``sock_connect`` judge an IP-literal destination like
  ``socket.connect`` (anyio, hence async ``httpx``, connects to an IP literal without
  resolving it).

Allow-listed destinations (the ``ssrf`` detector's ``allow_hosts`` option) are never refused.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import ipaddress
import socket
from collections.abc import Callable
from types import ModuleType
from typing import Any

from rampart.inprocess import guard
from rampart.inprocess.errors import Blocked
from rampart.inprocess.patching import Patcher, version_at_least

__all__ = ["patch"]

SINK = "http"
_hop_url: contextvars.ContextVar[str | None] = contextvars.ContextVar("rampart_http_hop", default=None)
_in_aiohttp: contextvars.ContextVar[bool] = contextvars.ContextVar("rampart_in_aiohttp", default=False)
# the first URL of the client call being made (the start of a redirect chain)
_origin: contextvars.ContextVar[str | None] = contextvars.ContextVar("rampart_http_origin", default=None)


def _host_url(host: str, port: int | str | None, scheme: str = "http") -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{scheme}://{shown}" + (f":{port}" if port else "") + "/"


def _judge(operation: str, url: str, resolved_ip: str | None) -> None:
    """One destination check; errors other than a block fail open."""
    try:
        guard.check(SINK, operation, "ssrf", url, resolved_ip=resolved_ip, origin=_origin.get())
    except Blocked:
        raise
    except Exception as exc:
        guard.fail_open(f"{SINK}.{operation}", exc)


def _url_of(value: Any) -> str | None:
    """The URL of a client's request argument (a string, yarl/httpx URL, or request object)."""
    if isinstance(value, str):
        return value
    for attr in ("full_url", "url"):
        inner = getattr(value, attr, None)
        if inner is not None and inner is not value:
            return str(inner)
    return str(value) if value is not None else None


def _chain(position: int) -> Callable[[Any], Any]:
    """Wrap a client call whose argument ``position`` is the URL or request: record it as the
    origin of the redirect chain unless a chain is already being followed."""

    def make(original: Any) -> Any:
        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                if _origin.get() is not None or guard.active() is None or len(args) <= position:
                    return await original(*args, **kwargs)
                token = _origin.set(_url_of(args[position]))
                try:
                    return await original(*args, **kwargs)
                finally:
                    _origin.reset(token)

            return async_wrapper

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if _origin.get() is not None or guard.active() is None or len(args) <= position:
                return original(*args, **kwargs)
            token = _origin.set(_url_of(args[position]))
            try:
                return original(*args, **kwargs)
            finally:
                _origin.reset(token)

        return wrapper

    return make


def _judge_resolution(host: Any, port: Any, results: Any) -> None:
    name = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
    url = _host_url(name, port if isinstance(port, int | str) else None)
    seen: set[str] = set()
    for entry in results:
        address = entry[4][0] if len(entry) > 4 and entry[4] else None
        if isinstance(address, str) and address not in seen:
            seen.add(address)
            guard.check(SINK, "socket.getaddrinfo", "ssrf", url, resolved_ip=address, origin=_origin.get())


def _wrap_getaddrinfo(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        results = original(host, port, *args, **kwargs)
        if guard.active() is None or _in_aiohttp.get() or host is None:
            return results
        try:
            _judge_resolution(host, port, results)
        except Blocked:
            raise
        except Exception as exc:
            guard.fail_open(f"{SINK}.socket.getaddrinfo", exc)
        return results

    return getaddrinfo


def _wrap_loop_getaddrinfo(original: Any) -> Any:
    @functools.wraps(original)
    async def getaddrinfo(self: Any, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        results = await original(self, host, port, *args, **kwargs)
        if guard.active() is None or _in_aiohttp.get() or host is None:
            return results
        try:
            _judge_resolution(host, port, results)
        except Blocked:
            raise
        except Exception as exc:
            guard.fail_open(f"{SINK}.loop.getaddrinfo", exc)
        return results

    return getaddrinfo


def _judge_literal(operation: str, host: Any, port: Any) -> None:
    """An IP-literal destination connected to without resolution (names were judged when
    they resolved)."""
    if guard.active() is None or _in_aiohttp.get() or not isinstance(host, str):
        return
    try:
        ip = str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return
    url = _host_url(ip, port if isinstance(port, int | str) else None)
    guard.check(SINK, operation, "ssrf", url, resolved_ip=ip)


def _wrap_loop_connect(original: Any) -> Any:
    @functools.wraps(original)
    async def create_connection(
        self: Any, protocol_factory: Any, host: Any = None, port: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        try:
            _judge_literal("loop.create_connection", host, port)
        except Blocked:
            raise
        except Exception as exc:
            guard.fail_open(f"{SINK}.loop.create_connection", exc)
        return await original(self, protocol_factory, host, port, *args, **kwargs)

    return create_connection


def _wrap_loop_sock_connect(original: Any) -> Any:
    @functools.wraps(original)
    async def sock_connect(self: Any, sock: Any, address: Any) -> Any:
        if (
            isinstance(address, tuple)
            and address
            and getattr(sock, "family", None)
            in (
                socket.AF_INET,
                socket.AF_INET6,
            )
        ):
            try:
                _judge_literal("loop.sock_connect", address[0], address[1] if len(address) > 1 else None)
            except Blocked:
                raise
            except Exception as exc:
                guard.fail_open(f"{SINK}.loop.sock_connect", exc)
        return await original(self, sock, address)

    return sock_connect


def _patch_uvloop(patcher: Patcher, module: ModuleType) -> None:
    loop_class = getattr(module, "Loop", None)
    if not isinstance(loop_class, type):
        return
    patcher.wrap(loop_class, "getaddrinfo", _wrap_loop_getaddrinfo)
    patcher.wrap(loop_class, "create_connection", _wrap_loop_connect)
    patcher.wrap(loop_class, "sock_connect", _wrap_loop_sock_connect)


def _wrap_request(original: Any) -> Any:
    @functools.wraps(original)
    async def _request(self: Any, method: str, str_or_url: Any, *args: Any, **kwargs: Any) -> Any:
        url = str(str_or_url)
        _judge("aiohttp.request", url, None)
        token = _in_aiohttp.set(True)
        origin = _origin.set(url) if _origin.get() is None else None
        try:
            return await original(self, method, str_or_url, *args, **kwargs)
        finally:
            if origin is not None:
                _origin.reset(origin)
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
                _judge("aiohttp.connect", url, address)
        return results

    return _resolve_host


def _socket_connect(args: tuple[Any, ...]) -> None:
    sock, address = args[0], args[1]
    if _in_aiohttp.get() or guard.active() is None:
        return
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    if not isinstance(address, tuple) or not address or not isinstance(address[0], str):
        return
    ip, port = address[0], address[1] if len(address) > 1 else None
    guard.check(SINK, "socket.connect", "ssrf", _host_url(ip, port), resolved_ip=ip)


def _patch_aiohttp(patcher: Patcher, module: ModuleType) -> None:
    if not version_at_least("aiohttp", (3, 10)):
        return
    import aiohttp.client
    import aiohttp.connector

    patcher.wrap(aiohttp.client.ClientSession, "_request", _wrap_request)
    patcher.wrap(aiohttp.connector.TCPConnector, "_create_direct_connection", _wrap_direct_connection)
    patcher.wrap(aiohttp.connector.TCPConnector, "_resolve_host", _wrap_resolve)


def _patch_httpx(patcher: Patcher, module: ModuleType) -> None:
    patcher.wrap(module.Client, "send", _chain(1))
    patcher.wrap(module.AsyncClient, "send", _chain(1))


def patch(patcher: Patcher) -> None:
    patcher.wrap(socket, "getaddrinfo", _wrap_getaddrinfo)
    patcher.audit("socket.connect", _socket_connect)
    patcher.when_imported("aiohttp", lambda m: _patch_aiohttp(patcher, m))
    patcher.when_imported("urllib.request", lambda m: patcher.wrap(m.OpenerDirector, "open", _chain(1)))
    patcher.when_imported("urllib3", lambda m: patcher.wrap(m.PoolManager, "urlopen", _chain(2)))
    patcher.when_imported("requests", lambda m: patcher.wrap(m.Session, "send", _chain(1)))
    patcher.when_imported("httpx", lambda m: _patch_httpx(patcher, m))
    patcher.when_imported("uvloop", lambda m: _patch_uvloop(patcher, m))
