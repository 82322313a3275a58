"""WSGI integration (Flask, Django, any WSGI app): :class:`RampartWSGI`.

``app.wsgi_app = RampartWSGI(app.wsgi_app, guard=guard)``; build the guard with
:func:`setup`. Per request it captures query, path segments, headers, cookies and the body
(read once from ``wsgi.input`` and replaced by an in-memory copy), binds the
:class:`~rampart.inprocess.context.RequestContext` while the app runs *and* while its response
iterable is consumed (sinks may run lazily), and judges the response. The response is
buffered so that a block -- raised, swallowed by the app, or turned into a 500 by the
framework -- or an XSS verdict on ``text/html`` can still become
``403 {"error": "blocked", "incident": ...}``. Harness mode adds ``X-Rampart-Rasp``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from rampart.inprocess.context import RequestContext, UserInput, bind
from rampart.inprocess.errors import Blocked
from rampart.inprocess.frameworks._capture import (
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

__all__ = ["RampartWSGI"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
_RID_ENV = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")


class RampartWSGI:
    """The guard's WSGI middleware (put it outermost)."""

    def __init__(self, app: WSGIApp, *, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        request_id = environ.get(_RID_ENV)
        if not is_valid_request_id(request_id):
            request_id = mint_request_id()
            environ[_RID_ENV] = request_id
        assert request_id is not None
        ctx = RequestContext(
            request_id=request_id,
            method=str(environ.get("REQUEST_METHOD", "")),
            path=str(environ.get("PATH_INFO", "")),
            client_ip=str(environ.get("REMOTE_ADDR", "")),
        )
        try:
            body = self._read_body(environ, ctx.anomalies)
            ctx.inputs = self._capture(environ, body, ctx.anomalies)
        except Exception as exc:
            self.guard.fail_open("wsgi.capture", exc)
        if judge_capture(self.guard, ctx) or self.guard.client_banned(ctx):
            return self._blocked(ctx, start_response)
        captured: dict[str, Any] = {}

        def capture_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, list(headers)
            return lambda data: captured.setdefault("written", []).append(data)

        with bind(ctx):
            try:
                result = self.app(environ, capture_start)
                try:
                    chunks = [bytes(c) for c in result]
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
            except Blocked:
                return self._blocked(ctx, start_response)
            except Exception:
                if blocked_in(ctx) is not None:
                    return self._blocked(ctx, start_response)
                raise
            if blocked_in(ctx) is not None:
                return self._blocked(ctx, start_response)
            payload = b"".join([*captured.get("written", []), *chunks])
            headers: list[tuple[str, str]] = captured.get("headers", [])
            content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
            if content_type.split(";", 1)[0].strip().lower() == "text/html":
                try:
                    judge_html(self.guard, ctx, payload.decode("utf-8", "replace"))
                except Blocked:
                    return self._blocked(ctx, start_response)
        if self.guard.harness:
            headers = [*headers, (RASP_HEADER, harness_header(ctx, replaced=False))]
        start_response(captured.get("status", "500 Internal Server Error"), headers)
        return [payload]

    def _blocked(self, ctx: RequestContext, start_response: StartResponse) -> list[bytes]:
        body = blocked_payload(ctx.request_id)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            (REQUEST_ID_HEADER, ctx.request_id),
        ]
        if self.guard.harness:
            headers.append((RASP_HEADER, harness_header(ctx, replaced=True)))
        start_response("403 Forbidden", headers)
        return [body]

    def _read_body(self, environ: Environ, flags: list[str]) -> bytes:
        """The body for capture, up to ``max_body_bytes``; ``wsgi.input`` is replaced by a
        stream that gives the app the same bytes. A chunked body (no Content-Length; the
        server dechunks and marks ``wsgi.input_terminated``) is read to its end too. A body
        past the limit is read no further than the limit, handed back whole, and reported
        (``body_unread``), not captured."""
        limit = self.guard.settings.max_body_bytes
        stream = environ.get("wsgi.input")
        declared = str(environ.get("CONTENT_LENGTH") or "").strip()
        if stream is None:
            return b""
        if declared:
            length = declared_length(declared)
            if length <= 0:
                return b""
            if length > limit:
                flags.append(Anomaly.BODY_UNREAD)
                return b""
            raw = bytes(stream.read(length))
            environ["wsgi.input"] = io.BytesIO(raw)
            return raw
        chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        if not (chunked or environ.get("wsgi.input_terminated")):
            return b""  # no length and not terminated: WSGI apps read no body
        raw = _read_up_to(stream, limit + 1)
        if len(raw) > limit:
            flags.append(Anomaly.BODY_UNREAD)
            environ["wsgi.input"] = io.BufferedReader(_Rejoined(raw, stream))
            return b""
        environ["wsgi.input"] = io.BytesIO(raw)
        return raw

    def _capture(self, environ: Environ, body: bytes, flags: list[str]) -> list[UserInput]:
        settings = self.guard.settings
        reading = settings_reading(settings)
        out: list[UserInput] = []
        raw_query = str(environ.get("QUERY_STRING", ""))
        query_string_inputs("query", raw_query, out, flags=flags, reading=reading)
        path_inputs(str(environ.get("PATH_INFO", "")), out)
        wanted = {
            h: environ["HTTP_" + h.upper().replace("-", "_")]
            for h in settings.captured_headers
            if "HTTP_" + h.upper().replace("-", "_") in environ
        }
        mapping_inputs("header", wanted, out)
        cookie = environ.get("HTTP_COOKIE")
        if cookie:
            cookie_header_inputs(str(cookie), out)
        if body:
            content_type = str(environ.get("CONTENT_TYPE", ""))
            # WSGI servers pass a Content-Encoding on as sent: read the bytes as they are and,
            # undone, as an app or middleware that decompresses reads them
            encoding = str(environ.get("HTTP_CONTENT_ENCODING") or "")
            decoded = decode_content(body, encoding, settings.max_body_bytes, flags) if encoding else None
            raw_body_inputs(content_type, body, out, flags=flags, reading=reading, judge_failure=not encoding)
            if decoded is not None:
                raw_body_inputs(content_type, decoded, out, flags=flags, reading=reading)
        return out


def _read_up_to(stream: Any, limit: int) -> bytes:
    """Read ``stream`` to its end or to ``limit`` bytes, whichever comes first."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = stream.read(min(1 << 16, limit - size))
        if not chunk:
            break
        chunks.append(bytes(chunk))
        size += len(chunk)
    return b"".join(chunks)


class _Rejoined(io.RawIOBase):
    """The bytes already read from a WSGI input, then the rest of that input."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self._head = io.BytesIO(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        got = self._head.readinto(view)
        if got:
            return got
        chunk = self._rest.read(len(view))
        if not chunk:
            return 0
        view[: len(chunk)] = chunk
        return len(chunk)
