"""ASGI integration (Starlette, FastAPI, any ASGI 3 app): :class:`RampartASGI`.

``app = RampartASGI(app, guard=guard)`` or ``Middleware(RampartASGI, guard=guard)``; build
the guard with :func:`setup`. Per HTTP request it captures query, path segments, headers,
cookies and the body (read once, then replayed to the app through ``receive``), binds the
:class:`~rampart.inprocess.context.RequestContext` while the app runs and judges the response:

* the ``http.response.start`` message is held until the first body message, so a block
  that the app swallowed (``except Exception``) or that an error middleware turned into a
  500 still becomes ``403 {"error": "blocked", "incident": ...}``;
* ``text/html`` responses are buffered and judged for reflected and stored XSS; other
  responses stream through;
* harness mode adds ``X-Rampart-Rasp`` to every response.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from rampart.inprocess.context import RequestContext, UserInput, bind
from rampart.inprocess.errors import Blocked
from rampart.inprocess.frameworks._capture import (
    BLOCKED_STATUS,
    blocked_payload,
    cookie_header_inputs,
    declared_length,
    decode_content,
    harness_header,
    judge_capture,
    judge_html,
    mapping_inputs,
    path_inputs,
    query_string_inputs,
    raw_body_inputs,
    settings_reading,
)
from rampart.inprocess.guard import Guard, blocked_in
from rampart.interpretation import Anomaly
from rampart.requestid import HEADER as REQUEST_ID_HEADER
from rampart.requestid import is_valid_request_id, mint_request_id
from rampart.verdicts import RASP_HEADER

__all__ = ["RampartASGI"]

log = logging.getLogger("rampart.inprocess.frameworks.asgi")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_RID = REQUEST_ID_HEADER.lower().encode()


class _Response:
    """Holds ``http.response.start`` (and an HTML body) until it is safe to send."""

    def __init__(self, send: Send, guard: Guard, ctx: RequestContext) -> None:
        self.send = send
        self.guard = guard
        self.ctx = ctx
        self.start: Message | None = None
        self.html: list[bytes] | None = None
        self.sent_start = False
        self.done = False

    async def __call__(self, message: Message) -> None:
        if self.done:
            return
        kind = message["type"]
        if kind == "http.response.start":
            self.start = message
            content_type = _header(message.get("headers", []), b"content-type")
            self.html = [] if content_type.split(";", 1)[0].strip().lower() == "text/html" else None
            return
        if kind != "http.response.body" or self.start is None:
            await self.send(message)
            return
        if blocked_in(self.ctx) is not None:
            await self.blocked()
            return
        more = bool(message.get("more_body", False))
        if self.html is not None:
            self.html.append(bytes(message.get("body", b"")))
            if more:
                return
            body = b"".join(self.html)
            try:
                with bind(self.ctx):
                    judge_html(self.guard, self.ctx, body.decode("utf-8", "replace"))
            except Blocked:
                await self.blocked()
                return
            await self.send_start()
            await self.send({"type": "http.response.body", "body": body, "more_body": False})
            self.done = True
            return
        await self.send_start()
        await self.send(message)
        self.done = not more

    async def send_start(self, replaced: bool = False) -> None:
        if self.sent_start or self.start is None:
            return
        start = dict(self.start)
        if self.guard.harness:
            start["headers"] = [
                *start.get("headers", []),
                (RASP_HEADER.lower().encode(), harness_header(self.ctx, replaced=replaced).encode()),
            ]
        self.sent_start = True
        await self.send(start)

    async def blocked(self) -> None:
        """Answer 403 unless a response already went out (then the block is only logged)."""
        if self.done:
            return
        if self.sent_start:
            log.warning("rampart: block after the response started (%s)", self.ctx.request_id)
            self.done = True
            return
        body = blocked_payload(self.ctx.request_id)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (_RID, self.ctx.request_id.encode()),
        ]
        self.start = {"type": "http.response.start", "status": BLOCKED_STATUS, "headers": headers}
        await self.send_start(replaced=True)
        await self.send({"type": "http.response.body", "body": body, "more_body": False})
        self.done = True


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


class RampartASGI:
    """The guard's ASGI middleware (put it outermost)."""

    def __init__(self, app: ASGIApp, *, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        request_id = _header(headers, _RID)
        if not is_valid_request_id(request_id):
            request_id = mint_request_id()
            headers = [(k, v) for k, v in headers if k.lower() != _RID] + [(_RID, request_id.encode())]
            scope = {**scope, "headers": headers}
        client = scope.get("client") or ("", 0)
        ctx = RequestContext(
            request_id=request_id,
            method=str(scope.get("method", "")),
            path=str(scope.get("path", "")),
            client_ip=str(client[0]),
        )
        body, over, receive = await self._buffer(receive)
        try:
            ctx.inputs = self._capture(scope, headers, body, over, ctx.anomalies)
        except Exception as exc:
            self.guard.fail_open("asgi.capture", exc)
        response = _Response(send, self.guard, ctx)
        if judge_capture(self.guard, ctx) or self.guard.client_banned(ctx):
            await response.blocked()
            return
        with bind(ctx):
            try:
                await self.app(scope, receive, response)
            except Blocked:
                await response.blocked()
                return
            except Exception:
                if blocked_in(ctx) is not None:
                    await response.blocked()
                    return
                raise
        if not response.done and blocked_in(ctx) is not None:
            await response.blocked()

    async def _buffer(self, receive: Receive) -> tuple[bytes, bool, Receive]:
        """Read the request body for capture, up to ``max_body_bytes``, and replay it: ->
        (body, over the limit, the ``receive`` the app gets). A body past the limit --
        declared, or chunked with no Content-Length -- is read no further than the first
        message that passes it (the rest stays with the server) and reported, not captured."""
        limit = self.guard.settings.max_body_bytes
        chunks: list[bytes] = []
        messages: list[Message] = []
        size = 0
        over = False
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
            if size > limit:
                over = True
                break
        over = over or size > limit
        pending = list(messages)

        async def replay() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        return (b"" if over else b"".join(chunks)), over, replay

    def _capture(
        self, scope: Scope, headers: list[tuple[bytes, bytes]], body: bytes, over: bool, flags: list[str]
    ) -> list[UserInput]:
        settings = self.guard.settings
        reading = settings_reading(settings)
        out: list[UserInput] = []
        raw_query = bytes(scope.get("query_string", b"")).decode("latin-1")
        query_string_inputs("query", raw_query, out, flags=flags, reading=reading)
        path_inputs(str(scope.get("path", "")), out)
        wanted = set(settings.captured_headers)
        chosen = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        mapping_inputs("header", {k: v for k, v in chosen.items() if k in wanted}, out)
        cookie = chosen.get("cookie")
        if cookie:
            cookie_header_inputs(cookie, out)
        if over or declared_length(chosen.get("content-length")) > settings.max_body_bytes:
            flags.append(Anomaly.BODY_UNREAD)
        elif body:
            content_type = chosen.get("content-type", "")
            # ASGI servers pass a Content-Encoding on as sent: the bytes as they are (an app
            # that does not decompress) and, undone, what an app or middleware that does reads
            encoding = chosen.get("content-encoding")
            decoded = decode_content(body, encoding, settings.max_body_bytes, flags) if encoding else None
            raw_body_inputs(content_type, body, out, flags=flags, reading=reading, judge_failure=not encoding)
            if decoded is not None:
                raw_body_inputs(content_type, decoded, out, flags=flags, reading=reading)
        return out
