"""The lab's own middleware and the oracle endpoints under ``/__lab/``.

The middleware gives every request an id (the guard's, the client's valid
``X-Request-ID``, or a fresh one), turns bad input into JSON 4xx, and scans every
response body for lab secrets (``canary_leak``).
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from rampart.inprocess import context as guard_context
from rampart.labapp.canaries import find_leaks
from rampart.labapp.effects import REQUEST_ID
from rampart.labapp.guard import is_guard_exception
from rampart.labapp.responses import ClientError, json_out
from rampart.labapp.state import STATE
from rampart.requestid import HEADER, ensure_request_id, is_valid_request_id

__all__ = ["ORACLE_PREFIX", "add_oracle_routes", "lab_middleware"]

ORACLE_PREFIX = "/__lab/"
log = logging.getLogger("labapp")


def _request_id(request: web.Request) -> str:
    ctx = guard_context.current()
    if ctx is not None and is_valid_request_id(ctx.request_id):
        return ctx.request_id
    return ensure_request_id(request.headers.get(HEADER))


def _error_response(request: web.Request, exc: Exception) -> web.Response:
    """JSON for a failed request; guard blocks and redirects pass through untouched."""
    if is_guard_exception(exc):
        raise exc
    if isinstance(exc, ClientError):
        return json_out({"error": exc.message}, status=exc.status)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return json_out({"error": exc.reason}, status=exc.status)
    log.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
    return json_out({"error": "internal error"}, status=500)


@web.middleware
async def lab_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = _request_id(request)
    token = REQUEST_ID.set(rid)
    try:
        try:
            response = await handler(request)
        except Exception as exc:
            response = _error_response(request, exc)
    finally:
        REQUEST_ID.reset(token)
    response.headers[HEADER] = rid
    if isinstance(response, web.Response) and not request.path.startswith(ORACLE_PREFIX):
        body = response.body
        if isinstance(body, bytes | bytearray):
            st = request.app[STATE]
            leaked = find_leaks(bytes(body), st.canary_bytes)
            if leaked:
                st.effects.add(rid, "canary_leak", {"secrets": leaked, "path": request.path})
    return response


async def effects(request: web.Request) -> web.Response:
    rid = request.query.get("request_id")
    if not rid:
        return json_out({"error": "missing query parameter 'request_id'"}, status=400)
    store = request.app[STATE].effects
    return json_out(
        {
            "request_id": rid,
            "effects": [e.as_json() for e in store.effects(rid)],
            "outbound": store.outbound(rid),
        }
    )


async def health(request: web.Request) -> web.Response:
    st = request.app[STATE]
    return json_out(
        {"status": "ok", "mongo_driver": st.settings.mongo_driver, "sql": st.sql.name if st.sql else None}
    )


async def reset(request: web.Request) -> web.Response:
    """Forget comments and recorded effects (for tests and between harness passes)."""
    st = request.app[STATE]
    assert st.mongo is not None
    await st.mongo.comments.delete_many({})
    st.effects.clear()
    return json_out({"ok": True})


def add_oracle_routes(app: web.Application) -> None:
    app.router.add_get(ORACLE_PREFIX + "effects", effects)
    app.router.add_get(ORACLE_PREFIX + "health", health)
    app.router.add_post(ORACLE_PREFIX + "reset", reset)
