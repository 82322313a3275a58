"""aiohttp integration: :func:`middleware` (``rampart.inprocess.install(app)`` adds it outermost).

Per request the middleware:

* keeps a valid ``X-Request-ID`` or mints one; the app reads the id the guard uses from
  ``rampart.inprocess.context.current().request_id`` (the lab does) or ``request[REQUEST_ID_KEY]``,
  so both name the same id. The request's headers are left as sent: rewriting them
  (``request.clone``) cost ~10% of the lab's throughput;
* captures query (raw, bracket-nested, JSON-decoded), path parameters, JSON / form /
  multipart / text bodies, cookies and chosen headers, read through
  ``rampart.interpretation`` as aiohttp reads them (JSON-looking bodies as JSON whatever
  their declared type); what cannot be read the way the app will (a repeated charset,
  values or nesting past the shared limits, a body above ``max_body_bytes``) is judged by
  the ``interpretation`` detector before the handler runs. The body is read once through
  ``request.read()`` (cached by aiohttp) and the request gets a fresh body stream holding the
  same bytes, so handlers can still use ``read()``, ``json()``, ``post()``, ``multipart()``
  or ``request.content``; bodies above ``max_body_bytes`` are left unread (and flagged ``body_unread``);
* binds the :class:`~rampart.inprocess.context.RequestContext` while the handler runs;
* judges ``text/html`` responses for reflected and stored XSS;
* answers ``403 {"error": "blocked", "incident": "<request id>"}`` when a sink was blocked
  (even if the handler caught :class:`~rampart.inprocess.errors.Blocked`), when the response was
  judged XSS in block mode, or when the client is banned (``block_session``);
* in harness mode adds ``X-Rampart-Rasp`` to every response, blocked ones included.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import hdrs, web
from aiohttp.streams import StreamReader

from rampart.inprocess.context import RequestContext, UserInput, bind
from rampart.inprocess.errors import Blocked
from rampart.inprocess.frameworks._capture import (
    BLOCKED_STATUS,
    blocked_payload,
    harness_header,
    judge_capture,
    judge_html,
    mapping_inputs,
    query_string_inputs,
    raw_body_inputs,
    settings_reading,
)
from rampart.inprocess.guard import Guard, blocked_in
from rampart.interpretation import Anomaly
from rampart.requestid import HEADER as REQUEST_ID_HEADER
from rampart.requestid import is_valid_request_id, mint_request_id
from rampart.verdicts import RASP_HEADER

__all__ = ["GUARD_KEY", "REQUEST_ID_KEY", "middleware"]

log = logging.getLogger("rampart.inprocess.frameworks.aiohttp")
GUARD_KEY: web.AppKey[Guard] = web.AppKey("rampart_guard", Guard)
REQUEST_ID_KEY: web.RequestKey[str] = web.RequestKey("rampart_request_id", str)


async def _capture(request: web.Request, guard: Guard, flags: list[str]) -> list[UserInput]:
    settings = guard.settings
    reading = settings_reading(settings)
    out: list[UserInput] = []
    if request.query_string:
        query_string_inputs("query", request.rel_url.raw_query_string, out, flags=flags, reading=reading)
    if request.match_info:
        mapping_inputs("path", request.match_info, out)
    headers = request.headers
    if "Cookie" in headers:
        mapping_inputs("cookie", request.cookies, out)
    get = headers.get
    for name in settings.captured_headers:
        value = get(name)
        if value is not None:
            out.append(UserInput(f"header.{name.lower()}", value))
    if not request.body_exists:
        return out
    length = request.content_length
    if length is not None and length > settings.max_body_bytes:
        flags.append(Anomaly.BODY_UNREAD)
        return out
    # aiohttp has undone chunked transfer and Content-Encoding: ``raw`` is what the app reads
    raw = await request.read()
    _replay(request, raw)
    if len(raw) > settings.max_body_bytes:  # chunked, no Content-Length: read, but not judged
        flags.append(Anomaly.BODY_UNREAD)
        return out
    raw_body_inputs(headers.get(hdrs.CONTENT_TYPE), raw, out, flags=flags, reading=reading)
    return out


def _replay(request: web.Request, raw: bytes) -> None:
    """Give the request a fresh body stream holding ``raw``: a handler that reads
    ``request.content`` (or ``multipart()``) itself still gets the whole body."""
    reader = StreamReader(request.protocol, max(len(raw), 1 << 16), loop=asyncio.get_running_loop())
    if raw:
        reader.feed_data(raw)
    reader.feed_eof()
    request._payload = reader


def _blocked_response(request_id: str) -> web.Response:
    return web.Response(
        status=BLOCKED_STATUS,
        body=blocked_payload(request_id),
        content_type="application/json",
        headers={REQUEST_ID_HEADER: request_id},
    )


def _judge_response(guard: Guard, ctx: RequestContext, response: web.StreamResponse) -> None:
    """XSS checks of an HTML response. Every other response returns after one header read:
    aiohttp's ``content_type`` re-parses the header (~10 µs) whenever the response was built
    with ``content_type=``, so the parsed form is only asked of ``text/html`` candidates."""
    if not isinstance(response, web.Response):
        return
    raw = response.headers.get(hdrs.CONTENT_TYPE)
    if raw is None or raw.lstrip()[:9].lower() != "text/html":
        return
    if response.content_type != "text/html":
        return
    body = response.body
    if not isinstance(body, bytes | bytearray):
        return
    judge_html(guard, ctx, bytes(body).decode(response.charset or "utf-8", "replace"))


def middleware(guard: Guard) -> Any:
    """The guard's aiohttp middleware (outermost)."""

    @web.middleware
    async def rampart_guard(request: web.Request, handler: Any) -> web.StreamResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER)
        if is_valid_request_id(incoming):
            assert incoming is not None
            request_id = incoming
        else:
            request_id = mint_request_id()
        request[REQUEST_ID_KEY] = request_id
        ctx = RequestContext(
            request_id=request_id,
            method=request.method,
            path=request.path,
            client_ip=request.remote or "",
        )
        try:
            ctx.inputs = await _capture(request, guard, ctx.anomalies)
        except web.HTTPRequestEntityTooLarge:
            # a chunked body past the app's client_max_size: aiohttp stopped reading part-way,
            # so the app could only read the rest of it -- answer as the app's own read would
            raise
        except Exception as exc:
            guard.fail_open("aiohttp.capture", exc)
        response: web.StreamResponse | None = None
        if judge_capture(guard, ctx) or guard.client_banned(ctx):
            return _finish(guard, ctx, _blocked_response(request_id), replaced=True)
        with bind(ctx):
            try:
                response = await handler(request)
                if blocked_in(ctx) is None:
                    _judge_response(guard, ctx, response)
            except Blocked:
                response = None
            except web.HTTPException as exc:
                if blocked_in(ctx) is not None:  # the app turned the block into an HTTP error
                    return _finish(guard, ctx, _blocked_response(request_id), replaced=True)
                if guard.harness:
                    exc.headers[RASP_HEADER] = harness_header(ctx, replaced=False)
                raise
            except Exception:
                if blocked_in(ctx) is not None:  # the app wrapped the block in its own error
                    return _finish(guard, ctx, _blocked_response(request_id), replaced=True)
                raise
        if response is not None and response.prepared:
            if blocked_in(ctx) is not None:
                log.warning("rampart: block after a streamed response started (%s)", request_id)
            return response
        if response is None or blocked_in(ctx) is not None:
            return _finish(guard, ctx, _blocked_response(request_id), replaced=True)
        return _finish(guard, ctx, response, replaced=False)

    return rampart_guard


def _finish(
    guard: Guard, ctx: RequestContext, response: web.StreamResponse, *, replaced: bool
) -> web.StreamResponse:
    if guard.harness and not response.prepared:
        response.headers[RASP_HEADER] = harness_header(ctx, replaced=replaced)
    return response
