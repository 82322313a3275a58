"""A lean HTTP/1.1 client for the gateway's hop to a plain-HTTP upstream.

aiohttp's ``ClientSession`` is general: per request it builds a URL, a request and a response
object with cookies, tracing, redirects, decompression and timers, which together cost more
than every rule the gateway runs on a small benign request. The hop to the upstream needs
none of it: the head is written as one string, the response is parsed by llhttp (the
``httptools`` binding) as it arrives, and the body is handed to the relay chunk by chunk.

What it does:

* a pool of keep-alive connections (at most ``limit`` open, idle ones closed after
  ``idle_timeout``), one request at a time per connection, no pipelining;
* ``connect_timeout`` for opening a connection and ``read_timeout`` as the longest silence
  while waiting for the head or the next body bytes (aiohttp's ``sock_connect`` and
  ``sock_read``);
* bodies as the upstream frames them (``Content-Length``, chunked, or until close), handed
  over decoded from the chunked framing but otherwise as sent (no decompression);
  informational ``1xx`` answers skipped; reading pauses while more than ``_HIGH_WATER`` bytes
  wait for the client, so a large download streams at flat memory;
* a head larger than ``_MAX_HEAD`` bytes, a malformed response or an upgrade nobody asked
  for is a protocol error; a connection closed before any response byte is
  :class:`UpstreamDisconnected` (the caller may resend an idempotent request once).

What it leaves to aiohttp (the caller decides): ``HEAD`` (llhttp cannot be told that a
``HEAD`` answer has no body), bodies streamed from the client, WebSocket upgrades and
``https://`` upstreams.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Sequence
from typing import Final, cast

import httptools

__all__ = [
    "UpstreamDisconnected",
    "UpstreamError",
    "UpstreamPool",
    "UpstreamResponse",
]

_HIGH_WATER: Final = 256 * 1024  # buffered body bytes at which reading from the upstream pauses
_LOW_WATER: Final = 64 * 1024  # ... and resumes
_MAX_HEAD: Final = 64 * 1024  # status line and headers of one response, informational ones included
_UTF8, _KEEP = "utf-8", "surrogateescape"  # header bytes that are not UTF-8 survive the round trip
_EMPTY_BODY: Final = frozenset({"POST", "PUT", "PATCH"})  # methods sent with Content-Length: 0 when bodiless


class UpstreamError(Exception):
    """The upstream could not be reached or did not answer properly. ``kind`` is the label
    the gateway counts it under: ``connect``, ``timeout``, ``disconnected`` or ``protocol``."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


class UpstreamDisconnected(UpstreamError):
    """The connection closed before any byte of the response arrived."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("disconnected", detail)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; feeds what it receives to the response in flight."""

    __slots__ = ("closed", "counted", "idle_since", "last_read", "loop", "pool", "response", "transport")

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.response: UpstreamResponse | None = None
        self.closed = False
        self.counted = True  # holds one of the pool's ``limit`` slots until it is lost
        self.idle_since = 0.0
        self.last_read = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        self.last_read = self.loop.time()
        response = self.response
        if response is None:  # bytes nobody asked for on an idle connection: not reusable
            self.abort()
            return
        response.feed(data)

    def eof_received(self) -> bool:
        return False  # close; connection_lost finishes a body delimited by the close

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self.response
        if response is not None:
            response.lost(exc)
        self.pool.lost(self)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class UpstreamResponse:
    """One response as it arrives: ``status``, ``reason``, ``headers`` (name, value) once
    :meth:`UpstreamPool.send` returns; the body through :meth:`readany` / :meth:`at_eof`.
    :meth:`release` must be called when the caller is done (it returns the connection to the
    pool when the whole body was read and the upstream keeps the connection alive)."""

    __slots__ = (
        "_chunks",
        "_complete",
        "_conn",
        "_error",
        "_framed",
        "_head_bytes",
        "_informational",
        "_keep_alive",
        "_parser",
        "_paused",
        "_pending",
        "_timer",
        "_waiter",
        "buffered",
        "headers",
        "reason",
        "status",
    )

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn
        self._parser = httptools.HttpResponseParser(self)
        self._chunks: collections.deque[bytes] = collections.deque()
        self._complete = False
        self._error: UpstreamError | None = None
        self._framed = False  # Content-Length or chunked: a close before the end truncates
        self._head_bytes = 0  # names and values of the headers so far, informational ones included
        self._pending = 0  # bytes received while no final head is complete
        self._informational = False
        self._keep_alive = False
        self._paused = False
        self._timer: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.buffered = 0
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []

    # -- llhttp callbacks -----------------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self.reason += reason.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        self.headers.append((name.decode(_UTF8, _KEEP), value.decode(_UTF8, _KEEP)))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if self._head_bytes > _MAX_HEAD or status == 101:
            return  # refused after the parser returns (a 101 stops it with HttpParserUpgrade)
        if 100 <= status < 200:
            self._informational = True  # 100 Continue, 103 Early Hints: the real answer follows
            return
        self.status = status
        for name, value in self.headers:
            low = name.lower()
            if low == "content-length" or (low == "transfer-encoding" and "chunked" in value.lower()):
                self._framed = True
                break
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self._paused:
            transport = self._conn.transport
            if transport is not None:
                self._paused = True
                transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            self.reason = ""
            self.headers = []
            return
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()
        self._wake()

    # -- from the connection ----------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self._complete:  # more bytes after the end of this response: not reusable
            self._keep_alive = False
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("protocol", "the upstream switched protocols unasked"))
            return
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError("protocol", str(exc)[:200]))
            return
        if self.status == 0:  # everything so far was head (informational answers included)
            self._pending += len(data)
            if self._pending > _MAX_HEAD or self._head_bytes > _MAX_HEAD:
                self._fail(UpstreamError("protocol", f"response head over {_MAX_HEAD} bytes"))

    def lost(self, exc: Exception | None) -> None:
        if self._complete or self._error is not None:
            return
        if self.status and not self._framed:
            self._complete = True  # the body was delimited by the close
            self._keep_alive = False
            self._wake()
            return
        detail = f"{type(exc).__name__}: {exc}" if exc is not None else "closed by the upstream"
        if self.status == 0 and self._pending == 0:
            self._fail(UpstreamDisconnected(detail))
        else:
            self._fail(UpstreamError("disconnected" if self.status == 0 else "protocol", detail))

    def _fail(self, error: UpstreamError) -> None:
        if self._error is None:
            self._error = error
        self._conn.abort()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- waiting ----------------------------------------------------------------------------

    def _on_timer(self) -> None:
        conn = self._conn
        left = conn.last_read + conn.pool.read_timeout - conn.loop.time()
        if left > 0.001:  # bytes arrived meanwhile: the silence is shorter than the limit
            self._timer = conn.loop.call_later(left, self._on_timer)
            return
        self._timer = None
        self._fail(UpstreamError("timeout", f"no bytes from the upstream for {conn.pool.read_timeout:g} s"))

    async def _wait(self) -> None:
        """Until the connection delivers something (or fails, or the read timeout passes)."""
        conn = self._conn
        waiter = self._waiter = conn.loop.create_future()
        conn.last_read = conn.loop.time()
        self._timer = conn.loop.call_later(conn.pool.read_timeout, self._on_timer)
        try:
            await waiter
        finally:
            self._waiter = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    async def wait_head(self) -> None:
        while self.status == 0:
            if self._error is not None:
                raise self._error
            await self._wait()

    # -- the body ---------------------------------------------------------------------------

    def at_eof(self) -> bool:
        return self._complete and not self._chunks

    async def readany(self) -> bytes:
        """Every body byte buffered so far (waiting for some if none is); ``b""`` at the end."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._complete:
                return b""
            await self._wait()
        chunks = self._chunks
        if len(chunks) == 1:
            data = chunks.popleft()
        else:
            data = b"".join(chunks)
            chunks.clear()
        self.buffered -= len(data)
        if self._paused and self.buffered < _LOW_WATER:
            self._paused = False
            transport = self._conn.transport
            if transport is not None and not self._conn.closed:
                transport.resume_reading()
        return data

    def release(self) -> None:
        """Done with this response: the connection goes back to the pool if it can be reused."""
        conn = self._conn
        if conn.response is not self:
            return
        conn.response = None
        reusable = self._complete and self._keep_alive and self._error is None
        if reusable and not self._chunks and not conn.closed:
            conn.pool.put(conn)
        else:
            conn.abort()


class UpstreamPool:
    """Keep-alive connections to one ``http://host:port``; :meth:`send` forwards a request."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        limit: int,
        connect_timeout: float,
        read_timeout: float,
        idle_timeout: float = 15.0,
        host_header: str | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.host = host
        self.port = port
        self.limit = limit
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        self._host_line = f"Host: {host_header}\r\n" if host_header else ""
        self._idle: list[_Connection] = []
        self.connections: set[_Connection] = set()  # every open one, idle or busy
        self._open = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.closed = False

    # -- connections --------------------------------------------------------------------------

    async def _acquire(self) -> tuple[_Connection, bool]:
        """A connection (and whether it was reused): an idle one, a new one, or the next freed."""
        while True:
            if self.closed:
                raise UpstreamError("connect", "the gateway is shutting down")
            idle = self._idle
            now = self.loop.time()
            while idle:
                conn = idle.pop()
                if not conn.closed and now - conn.idle_since < self.idle_timeout:
                    return conn, True
                conn.abort()
            if self._open < self.limit:
                self._open += 1
                try:
                    return await self._connect(), False
                except BaseException:
                    self._open -= 1
                    self._wake_one()
                    raise
            waiter = self.loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await self.loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except TimeoutError:
            raise UpstreamError("timeout", f"connecting to {self.host}:{self.port}") from None
        except OSError as exc:
            raise UpstreamError("connect", f"{self.host}:{self.port}: {exc}") from None
        self.connections.add(conn)
        return conn

    def put(self, conn: _Connection) -> None:
        if self.closed:
            conn.abort()
            return
        conn.idle_since = self.loop.time()
        self._idle.append(conn)
        self._wake_one()

    def lost(self, conn: _Connection) -> None:
        if conn.counted:
            conn.counted = False
            self._open -= 1
            self.connections.discard(conn)
            with contextlib.suppress(ValueError):
                self._idle.remove(conn)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        self.closed = True
        for conn in [*self.connections]:
            conn.abort()
        self._idle.clear()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- requests -----------------------------------------------------------------------------

    def head(self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes | None) -> bytes:
        """The request's head, encoded as the client sent its headers (UTF-8 with the bytes
        that were not UTF-8 restored). Refuses a header that would split the head."""
        lines = [f"{method} {target} HTTP/1.1\r\n"]
        if self._host_line:
            lines.append(self._host_line)
        lines += [f"{name}: {value}\r\n" for name, value in headers]
        if body:
            lines.append(f"Content-Length: {len(body)}\r\n")
        elif method in _EMPTY_BODY:
            lines.append("Content-Length: 0\r\n")
        lines.append("\r\n")
        text = "".join(lines)
        # every line ends in the one CRLF put there: a CR or LF inside a name or value would
        # start a header (or a request) the client did not send
        if text.count("\n") != len(lines) or text.count("\r") != len(lines):
            raise UpstreamError("protocol", "a header holds a line break")
        return text.encode("utf-8", "surrogateescape")

    async def send(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        *,
        resend: bool,
    ) -> UpstreamResponse:
        """Send one request and wait for the head of its response. ``resend``: a request
        whose reused connection turns out closed by the upstream (before any response byte)
        is sent once more on another connection."""
        data = self.head(method, target, headers, body)
        if body:
            data += body
        while True:
            conn, reused = await self._acquire()
            response = conn.response = UpstreamResponse(conn)
            assert conn.transport is not None
            conn.transport.write(data)
            try:
                await response.wait_head()
            except UpstreamDisconnected:
                response.release()
                if resend and reused:
                    resend = False
                    continue
                raise
            except BaseException:
                response.release()
                raise
            return response
