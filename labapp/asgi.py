"""The lab's endpoints served as an ASGI app (Starlette), for products that protect ASGI or
WSGI apps but not aiohttp (docs/LAB.md "The ASGI lab").

Nothing here is a second lab. Every request runs the *same* handler functions
(:data:`rampart.labapp.endpoints.ROUTES`) behind the *same* middleware
(:func:`rampart.labapp.oracle_routes.lab_middleware`:
request ids, clean 4xx, the ``canary_leak`` scan) with the same :class:`~rampart.labapp.state.LabState`,
so the sinks, the effects and the oracle are the aiohttp lab's own. What differs is only the
transport: Starlette routes a request to an endpoint, :class:`AsgiLabRequest` gives the handler
the few members of an aiohttp request it reads (method, path, headers, query, body), and the
aiohttp response it returns is written back through Starlette.

Starlette is used (not plain ASGI) because runtime-protection products such as Aikido Zen
learn the request's user input by wrapping Starlette's application and routing.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.helpers import parse_content_type
from multidict import CIMultiDict, CIMultiDictProxy, MultiMapping
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from yarl import URL

from rampart.labapp import oracle_routes as oracle
from rampart.labapp.app import _clients, index
from rampart.labapp.endpoints import ROUTES
from rampart.labapp.oracle_routes import ORACLE_PREFIX, lab_middleware
from rampart.labapp.responses import ClientError, json_out
from rampart.labapp.state import STATE, LabState

__all__ = ["BODY_LIMIT", "PEER_HEADER", "AsgiLabRequest", "build_asgi_app", "register_peer_block"]

BODY_LIMIT = 1024 * 1024  # the aiohttp lab's client_max_size
PEER_HEADER = "X-Rampart-Peer"
_PEER_BLOCKS: list[tuple[type[BaseException], str]] = []


def register_peer_block(exc_type: type[BaseException], product: str) -> None:
    """A protection product in this process blocks by raising ``exc_type`` from a sink: answer
    it with ``403`` and ``X-Rampart-Peer: block; detections=<product>:<exception class>``
    (:mod:`rampart.labapp.peers`; the replay harness reads the header, attacks/replay/peers.py)."""
    _PEER_BLOCKS.append((exc_type, product))


def _peer_block(exc: BaseException) -> web.Response | None:
    for exc_type, product in _PEER_BLOCKS:
        if isinstance(exc, exc_type):
            what = f"{product}:{type(exc).__name__}"
            response = json_out({"error": f"blocked by {product}: {exc}"}, status=403)
            response.headers[PEER_HEADER] = f"block; detections={what}"
            return response
    return None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Body:
    """``request.content`` for the handlers that read the raw body (L13): ``read(n)`` takes
    at most ``n`` more bytes from the stream, as aiohttp's ``StreamReader`` does."""

    def __init__(self, owner: AsgiLabRequest) -> None:
        self._owner = owner
        self._pos = 0

    async def read(self, n: int = -1) -> bytes:
        data = await self._owner.read() if n < 0 else await self._owner.peek(self._pos + n)
        end = len(data) if n < 0 else min(self._pos + n, len(data))
        chunk, self._pos = data[self._pos : end], end
        return chunk


class AsgiLabRequest:
    """The members of :class:`aiohttp.web.Request` the lab's handlers and middleware use,
    read from a Starlette request the way aiohttp reads them (query parsed by yarl from the
    raw query string, the body decoded with the Content-Type's charset, 1 MB at most)."""

    def __init__(self, request: Request, app: web.Application) -> None:
        self._request = request
        self.app = app
        self.method: str = request.method
        self.path: str = request.scope["path"]
        raw_path = request.scope.get("raw_path") or self.path.encode("utf-8")
        raw_query = request.scope.get("query_string", b"")
        self.rel_url = URL.build(
            path=raw_path.decode("latin-1"), query_string=raw_query.decode("latin-1"), encoded=True
        )
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(
            CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"])
        )
        self.content = _Body(self)
        self._chunks = request.stream()
        self._raw = bytearray()
        self._ended = False
        self._body: bytes | None = None

    @property
    def query(self) -> MultiMapping[str]:
        return self.rel_url.query

    @property
    def query_string(self) -> str:
        return self.rel_url.query_string

    @property
    def charset(self) -> str | None:
        raw = self.headers.get("Content-Type")
        if raw is None:
            return None
        return parse_content_type(raw)[1].get("charset")

    @property
    def _encoding(self) -> str:
        return self.headers.get("Content-Encoding", "").strip().lower()

    async def _fill(self, size: int) -> None:
        """Read the stream until ``size`` bytes are buffered or it ends."""
        while not self._ended and len(self._raw) < size:
            try:
                self._raw.extend(await anext(self._chunks))
            except StopAsyncIteration:
                self._ended = True

    async def peek(self, size: int) -> bytes:
        """At least the first ``size`` bytes of the body when it has them (all of a compressed one)."""
        if self._encoding in _COMPRESSED:
            return await self.read()
        await self._fill(size)
        return bytes(self._raw)

    async def read(self) -> bytes:
        if self._body is None:
            await self._fill(BODY_LIMIT + 1)
            if len(self._raw) > BODY_LIMIT:
                raise web.HTTPRequestEntityTooLarge(BODY_LIMIT, len(self._raw))
            self._body = _decoded(bytes(self._raw), self._encoding)
        return self._body

    async def text(self) -> str:
        return (await self.read()).decode(self.charset or "utf-8")

    async def json(self, *, loads: Callable[[str], Any]) -> Any:
        return loads(await self.text())


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_LAB_ROUTES: tuple[tuple[str, str, Any], ...] = (
    ("GET", "/", index),
    *ROUTES,
    ("GET", ORACLE_PREFIX + "effects", oracle.effects),
    ("GET", ORACLE_PREFIX + "health", oracle.health),
    ("POST", ORACLE_PREFIX + "reset", oracle.reset),
)


_COMPRESSED = ("gzip", "deflate")


def _decoded(body: bytes, enc: str) -> bytes:
    """A gzip or deflate request body decompressed, as aiohttp's own HTTP parser does for the
    aiohttp lab (uvicorn hands the application the body as sent)."""
    if enc not in _COMPRESSED or not body:
        return body
    # gzip: a gzip header; deflate: a zlib stream, or raw deflate as aiohttp also accepts
    wbits = (
        16 + zlib.MAX_WBITS if enc == "gzip" else (zlib.MAX_WBITS if body[0] & 0xF == 8 else -zlib.MAX_WBITS)
    )
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, BODY_LIMIT + 1)
    except zlib.error as exc:
        raise ClientError(f"cannot decode the {enc} request body: {exc}") from None
    if len(data) > BODY_LIMIT:
        raise web.HTTPRequestEntityTooLarge(BODY_LIMIT, len(data))
    return data


def _dispatch(
    methods: dict[str, Handler] | None, holder: web.Application
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint for one path (``None``: no such path): the lab's middleware around
    the handler for the method, so a wrong method or path is the aiohttp lab's JSON 405 or 404."""

    async def endpoint(request: Request) -> Response:
        lab_request = AsgiLabRequest(request, holder)
        handler = None if methods is None else methods.get(request.method)

        async def run(req: web.Request) -> web.StreamResponse:
            if methods is None:
                raise web.HTTPNotFound()
            if handler is None:
                raise web.HTTPMethodNotAllowed(request.method, sorted(methods))
            try:
                return await handler(req)
            except Exception as exc:
                blocked = _peer_block(exc)
                if blocked is None:
                    raise
                return blocked

        result = await lab_middleware(cast(web.Request, lab_request), run)
        return _to_starlette(cast(web.Response, result))

    return endpoint


def _to_starlette(response: web.Response) -> Response:
    body = response.body
    data = bytes(body) if isinstance(body, bytes | bytearray) else b""
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(content=data, status_code=response.status, headers=headers)


def build_asgi_app(state: LabState) -> Starlette:
    """The lab as a Starlette app; its clients open in the app's lifespan (as in the aiohttp lab,
    after any in-process protection has patched the libraries)."""
    holder = web.Application()  # carries the state the handlers read as request.app[STATE]
    holder[STATE] = state
    by_path: dict[str, dict[str, Handler]] = {}
    for method, path, handler in _LAB_ROUTES:
        by_path.setdefault(path, {})[method] = handler
    routes = [Route(path, _dispatch(methods, holder), methods=_METHODS) for path, methods in by_path.items()]
    routes.append(Route("/{rest:path}", _dispatch(None, holder), methods=_METHODS))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with contextlib.asynccontextmanager(_clients)(holder):
            yield

    return Starlette(routes=routes, lifespan=lifespan)
