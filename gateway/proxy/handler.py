"""The reverse-proxy request handler.

Per request, in order: request id; method, target and header limits; rate limits; body
(buffered up to the inspection limit); every engine's verdict; audit; then either the
gateway's own 403 page (block mode, enforcing engine blocks: the upstream never sees the
request) or the request forwarded over the one pooled upstream session, the response
streamed back as it arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from rampart.gateway.audit import AuditLog, log_event
from rampart.gateway.config import GatewaySettings
from rampart.gateway.decision import Outcome, RequestFacts, decide
from rampart.gateway.metrics import GatewayMetrics
from rampart.gateway.model import RawRequest
from rampart.gateway.proxy.accesslog import AccessLog, access_record
from rampart.gateway.proxy.hardening import Hardening, Rejection, check_body_length, check_request
from rampart.gateway.proxy.headers import HOP_BY_HOP, ClientAddress, TrustedProxies, hop_by_hop_names
from rampart.gateway.proxy.inspection import EngineRunner
from rampart.gateway.proxy.logsummary import EventSummary
from rampart.gateway.proxy.pages import error_page
from rampart.gateway.proxy.ratelimit import RateLimiter, quota_headers
from rampart.gateway.proxy.upstream import UpstreamDisconnected, UpstreamError, UpstreamPool
from rampart.gateway.proxy.websocket import (
    MessageInspector,
    handshake_free,
    is_websocket_upgrade,
    max_msg_size,
    relay,
)
from rampart.requestid import HEADER as REQUEST_ID
from rampart.requestid import is_valid_request_id, mint_request_id
from rampart.verdicts import RASP_HEADER, WAF_HEADER, format_waf_header

__all__ = ["Gateway", "ProxyHandler"]

logger = logging.getLogger("rampart.gateway.proxy")

# Request headers the gateway replaces or that must not reach the upstream as sent.
_REPLACED = frozenset(
    {
        "content-length",
        "expect",
        "x-request-id",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
        "x-real-ip",
    }
)
_RESPONSE_DROP = frozenset({"x-request-id"})
# Request body codings aiohttp's parser decodes before the handler reads the body; the body
# then goes upstream decoded, without the header (and the engines inspect decoded bytes).
_DECODED = frozenset({"gzip", "deflate", "br", "zstd"})
_OUTCOMES = ("forwarded", "blocked", "rejected", "rate_limited", "upstream_error")
# Header names the relay never forwards by prefix: proxy credentials, and verdict headers an
# upstream could use to pass itself off as the gateway.
_UP_PREFIXES = ("proxy-",)
_DOWN_PREFIXES = ("proxy-", "x-rampart-waf-")
_PEERS_CACHED = 4096  # client addresses of untrusted peers kept (cleared whole when full)


_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
_HTTP11 = aiohttp.HttpVersion11

# Per-request values the access log reads back (web.Request is a mutable mapping).
_FACTS = web.RequestKey("rampart_facts", RequestFacts)
_OUTCOME = web.RequestKey("rampart_outcome", str)
_DECISION = web.RequestKey("rampart_decision", str)


class _BodyTooLarge(Exception):
    pass


class _Body(Protocol):
    """A response body as it arrives: aiohttp's ``StreamReader`` or :class:`UpstreamResponse`."""

    async def readany(self) -> bytes: ...

    def at_eof(self) -> bool: ...


class _RelayedResponse(web.StreamResponse):
    """A streamed response whose head goes out with the first body chunk (or at EOF), so
    a small response costs one socket write instead of two; still never buffered. Its
    headers are hardened when they are built (:meth:`ProxyHandler._response_headers`), so the
    app's prepare hook leaves them alone."""

    _send_headers_immediately = False


@dataclass
class Gateway:
    """Everything one gateway app holds; the session is opened by the app's cleanup context."""

    settings: GatewaySettings
    metrics: GatewayMetrics
    runner: EngineRunner
    audit: AuditLog
    limiter: RateLimiter | None = None
    session: aiohttp.ClientSession | None = None
    upstream: UpstreamPool | None = None  # the lean client, for a plain-HTTP upstream (see _forward)
    access: AccessLog | None = None
    trusted: TrustedProxies = field(init=False)
    summaries: dict[str, EventSummary] = field(init=False)

    def __post_init__(self) -> None:
        self.trusted = TrustedProxies(self.settings.trusted_proxies)
        interval = self.settings.audit.summary_interval
        self.summaries = {
            event: EventSummary(logger, event, interval=interval) for event in ("rate_limited", "rejected")
        }

    def reopen_logs(self) -> None:
        """Reopen the audit and access log files (after an external rotation; SIGHUP)."""
        self.audit.writer.reopen()
        if self.access is not None:
            self.access.writer.reopen()
        log_event(logger, logging.INFO, "logs_reopened")


class ProxyHandler:
    """``await handler.handle(request)`` serves one proxied request."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        s = gateway.settings
        self.settings = s
        self.base = s.upstream
        self._base_path = urlsplit(s.upstream).path  # the lean client's targets start with it
        self._preserve_host = s.preserve_host
        # Everything below is read once per app, not per request: the header names each
        # direction drops (lower case), the hardening policy, the bound metric children.
        drop = set(_REPLACED)
        if not s.preserve_host:
            drop.add("host")
        self._drop_request = frozenset(drop)
        self._drop_response = (
            _RESPONSE_DROP | {WAF_HEADER.lower()} | (frozenset() if s.harness else {RASP_HEADER.lower()})
        )
        self._hardening = Hardening(s.headers)
        self._drop_up = HOP_BY_HOP | self._drop_request
        self._drop_down = HOP_BY_HOP | self._drop_response | self._hardening.dropped
        self._limits = s.limits
        self._trusting = bool(gateway.trusted.networks)
        self._access = gateway.access is not None
        self._peers: dict[str, ClientAddress] = {}
        self._engine_names = tuple(e.name for e in gateway.runner.engines)
        m = gateway.metrics
        self._outcome = {o: m.requests.labels(o) for o in _OUTCOMES}
        self._forwarded = self._outcome["forwarded"]
        self._latency = m.latency

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Security headers on every response the app sends (its own pages included), and a
        request id on those no handler made (aiohttp's router refusing ``OPTIONS *``). A
        relayed response was hardened as its headers were built: only what aiohttp added
        since (its ``Server``) is left to drop."""
        headers = response.headers
        if type(response) is _RelayedResponse:
            self._hardening.drop_from(headers)
            return
        self._hardening.apply(headers)
        if REQUEST_ID not in headers:
            headers[REQUEST_ID] = mint_request_id()

    # -- refusals -----------------------------------------------------------------------

    def _refuse(
        self,
        request: web.BaseRequest,
        status: int,
        outcome: str,
        reason: str,
        headers: dict[str, str],
        *,
        close: bool = False,
    ) -> web.Response:
        self._outcome[outcome].inc()
        if isinstance(request, web.Request):
            request[_OUTCOME] = outcome
        if outcome == "rejected":
            self.gw.metrics.rejected.labels(reason).inc()
        if self.settings.harness and outcome in ("rejected", "rate_limited"):
            # refused before any engine ran: the perimeter stopped it, in either mode
            prefix = "ratelimit" if outcome == "rate_limited" else "hardening"
            headers = {**headers, WAF_HEADER: format_waf_header("block", 0, [f"{prefix}.{reason}"])}
        resp = error_page(status, headers[REQUEST_ID], accept=request.headers.get("Accept", ""), close=close)
        resp.headers.update(headers)
        return resp

    def _reject(
        self, request: web.BaseRequest, rejection: Rejection, headers: dict[str, str]
    ) -> web.Response:
        self.gw.summaries["rejected"].record(
            rejection.reason,
            request_id=headers[REQUEST_ID],
            reason=rejection.reason,
            status=rejection.status,
            client=request.remote,
            method=request.method[:32],
            path=request.path[:256],
        )
        return self._refuse(
            request, rejection.status, "rejected", rejection.reason, headers, close=request.body_exists
        )

    # -- body ---------------------------------------------------------------------------

    async def _read_body(self, request: web.BaseRequest) -> tuple[bytes, bool]:
        """The buffered body and whether more remains unread (oversize, passed uninspected)."""
        if not request.body_exists:
            return b"", False
        limit = self.settings.limits.max_body_bytes
        buf = bytearray()
        async with asyncio.timeout(self.settings.timeouts.client_body):
            while len(buf) <= limit:
                chunk = await request.content.read(limit + 1 - len(buf))
                if not chunk:
                    return bytes(buf), False
                buf += chunk
        if self.settings.limits.oversize_body == "reject":
            raise _BodyTooLarge
        return bytes(buf), True

    @staticmethod
    async def _stream_body(prefix: bytes, content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
        yield prefix
        async for chunk in content.iter_any():
            yield chunk

    # -- verdicts -----------------------------------------------------------------------

    def _log_outcome(self, outcome: Outcome, facts: RequestFacts) -> None:
        for action in outcome.actions:
            if action.decision == "allow":
                continue
            blocked = action.role == "enforce" and outcome.blocked
            log_event(
                logger,
                logging.INFO,
                "blocked" if blocked else "detected",
                request_id=facts.request_id,
                engine=action.name,
                role=action.role,
                score=action.verdict.score,
                rules=",".join(action.verdict.rule_ids),
                client=facts.client,
                method=facts.method,
                path=facts.path[:256],
            )

    # -- the handler --------------------------------------------------------------------

    @property
    def entry(self) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """The route handler: :meth:`handle`, or straight to the proxying without an access log."""
        return self.handle if self._access else self._handle

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one request; one access-log line when the access log samples it."""
        access = self.gw.access
        if access is None or not access.wanted():
            return await self._handle(request)
        start = time.perf_counter()
        resp = await self._handle(request)
        facts = request.get(_FACTS)
        access.submit(
            access_record(
                request_id=resp.headers.get(REQUEST_ID, ""),
                client=facts.client if facts is not None else (request.remote or ""),
                method=request.method,
                host=request.host,
                path=request.path,
                status=resp.status,
                outcome=request.get(_OUTCOME, "forwarded"),
                decision=request.get(_DECISION, "allow"),
                duration_ms=(time.perf_counter() - start) * 1000,
            )
        )
        return resp

    def _client(self, request: web.BaseRequest) -> ClientAddress:
        """The client address; without trusted proxies it is the peer's, kept per peer."""
        peer = request.remote
        if not self._trusting:
            key = peer or ""
            found = self._peers.get(key)
            if found is None:
                if len(self._peers) >= _PEERS_CACHED:
                    self._peers.clear()
                found = self._peers[key] = self.gw.trusted.resolve(peer, ())
            return found
        return self.gw.trusted.resolve(peer, request.headers.getall("X-Forwarded-For", ()))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        start = time.perf_counter()
        s = self.settings
        sent = request.headers
        rid = sent.get(REQUEST_ID)
        if rid is None or not is_valid_request_id(rid):
            rid = mint_request_id()
        extra: dict[str, str] = {REQUEST_ID: rid}
        method = request.method
        rejection = check_request(self._limits, method, request.raw_path, sent.items())
        if rejection is not None:
            return self._reject(request, rejection, extra)
        client = self._client(request)
        path = request.path
        limiter = self.gw.limiter
        if limiter is not None:
            quota = await limiter.check(client.ip, method, path)
            if quota is not None:
                extra.update(quota_headers(quota))
                if not quota.allowed:
                    self.gw.metrics.rate_limited.labels(quota.rule).inc()
                    self.gw.summaries["rate_limited"].record(
                        quota.rule, request_id=rid, rule=quota.rule, client=client.ip, path=path[:256]
                    )
                    return self._refuse(
                        request, 429, "rate_limited", quota.rule, extra, close=request.body_exists
                    )
        has_body = request.body_exists
        body, more = b"", False
        if has_body:
            rejection = check_body_length(s.limits, request.content_length)
            if rejection is not None:
                return self._reject(request, rejection, extra)
            try:
                body, more = await self._read_body(request)
            except _BodyTooLarge:
                return self._reject(request, Rejection(413, "body_size"), extra)
            except TimeoutError:
                return self._reject(request, Rejection(408, "body_timeout"), extra)
            except web.RequestPayloadError:
                # the body cannot be read (bad chunking, a coding it does not have): mark it
                # consumed so aiohttp does not read the dead stream again after the 400 is sent
                request.content.feed_eof()
                return self._reject(request, Rejection(400, "body_malformed"), extra)

        raw = self._raw_request(request, body, more, client, rid)
        verdicts = await self.gw.runner.inspect(raw)
        flagged = any(v.flagged for v in verdicts)
        facts = None  # what an incident or an access-log line says about the request
        if self._access or flagged:
            facts = RequestFacts(rid, client.ip, method, request.host, path)
            if self._access:
                request[_FACTS] = facts
        outcome: Outcome | None = None  # None: allowed, no verdict header, nothing to audit
        if flagged or s.harness:  # decide has nothing to add for unflagged verdicts otherwise
            outcome = decide(
                verdicts,
                mode=s.mode,
                harness=s.harness,
                names=self._engine_names,
                facts=facts,
                audit_limit=s.audit.max_per_request,
            )
        if self._access:
            request[_DECISION] = "allow" if outcome is None else outcome.decision
        if outcome is not None:
            if outcome.decision != "allow" and facts is not None:  # not allow: flagged, so facts
                self._log_outcome(outcome, facts)
            extra.update(outcome.headers)
            if outcome.status is not None:
                self._audit(outcome, outcome.status)
                return self._refuse(request, outcome.status, "blocked", "engine", extra, close=more)

        headers = self._upstream_headers(request, client, rid)
        if is_websocket_upgrade(request):
            return await self._websocket(request, self._url(request), headers, extra, raw, outcome=outcome)
        data: bytes | AsyncIterator[bytes] | None = None
        if more:
            data = self._stream_body(body, request.content)
        elif has_body:
            data = body
        resp = await self._forward(
            request, headers=headers, data=data, extra=extra, client=client, start=start, more=more
        )
        self._audit(outcome, resp.status)
        return resp

    def _audit(self, outcome: Outcome | None, status: int) -> None:
        if outcome is not None and outcome.incidents:
            self.gw.audit.submit(outcome.audit_records(status))

    def _raw_request(
        self, request: web.BaseRequest, body: bytes, more: bool, client: ClientAddress, rid: str
    ) -> RawRequest:
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        sock = transport.get_extra_info("sockname") if transport is not None else None
        limit = self.settings.limits.max_body_bytes
        version = request.version
        return RawRequest(
            method=request.method,
            target=request.raw_path,
            headers=tuple(request.headers.items()),
            body=body[:limit] if more else body,
            http_version="1.1" if version == _HTTP11 else f"{version.major}.{version.minor}",
            client_ip=client.ip,
            client_port=peer[1] if isinstance(peer, tuple) else 0,
            server_ip=sock[0] if isinstance(sock, tuple) else "",
            server_port=sock[1] if isinstance(sock, tuple) else 0,
            request_id=rid,
            body_truncated=more,
        )

    def _upstream_headers(
        self, request: web.BaseRequest, client: ClientAddress, rid: str
    ) -> list[tuple[str, str]]:
        """The client's headers minus hop-by-hop ones (and those ``Connection`` names),
        ``Proxy-*`` and the ones the gateway replaces, then the ``X-Forwarded-*`` set and the
        request id: one pass, no intermediate copies (aiohttp copies the list once)."""
        sent = request.headers
        drop = self._drop_up
        if "Connection" in sent:
            drop = drop | hop_by_hop_names(("Connection", v) for v in sent.getall("Connection"))
        coding = sent.get("Content-Encoding")
        if coding is not None and coding.isascii() and coding.lower() in _DECODED:
            drop = drop | {"content-encoding"}
        headers = [
            (k, v)
            for k, v in sent.items()
            if (low := k.lower()) not in drop and not low.startswith(_UP_PREFIXES)
        ]
        trusted = client.trusted_peer
        if trusted:
            for name in ("Forwarded", "X-Real-IP"):
                for value in sent.getall(name, ()):
                    headers.append((name, value))
        proto = sent.get("X-Forwarded-Proto") if trusted else None
        host = (sent.get("X-Forwarded-Host") if trusted else None) or request.host
        headers.append(("X-Forwarded-For", client.forwarded_for))
        headers.append(("X-Forwarded-Proto", proto or request.scheme))
        if host:
            headers.append(("X-Forwarded-Host", host))
        headers.append((REQUEST_ID, rid))
        return headers

    def _response_headers(
        self, received: Iterable[tuple[str, str]], extra: dict[str, str]
    ) -> CIMultiDict[str]:
        """The upstream's headers minus hop-by-hop ones (and those ``Connection`` names),
        ``Proxy-*``, verdict headers it must not forge and the fingerprinting ones the policy
        drops; then ``extra`` (request id, quota, verdicts) and the security headers."""
        drop = self._drop_down
        kept: list[tuple[str, str, str]] = []
        connection: list[str] = []
        for k, v in received:
            low = k.lower()
            if low == "connection":
                connection.append(v)
            elif low not in drop and not low.startswith(_DOWN_PREFIXES):
                kept.append((low, k, v))
        if connection:
            named = hop_by_hop_names(("Connection", v) for v in connection)
            headers: CIMultiDict[str] = CIMultiDict([(k, v) for low, k, v in kept if low not in named])
        else:
            headers = CIMultiDict([(k, v) for _, k, v in kept])
        headers.update(extra)
        self._hardening.add(headers)
        return headers

    def _url(self, request: web.BaseRequest) -> URL:
        """The upstream URL for aiohttp's client (the lean client takes the target alone)."""
        return URL(self.base + request.raw_path, encoded=True)

    def _lean_target(self, request: web.BaseRequest, more: bool) -> str | None:
        """The request target for the lean upstream client, or None when aiohttp's client
        must carry the request: no lean client (an ``https://`` upstream), ``HEAD``, a body
        streamed past the inspection limit, an asterisk or absolute target, or a preserved
        ``Host`` the client did not send."""
        if self.gw.upstream is None or more or request.method == "HEAD":
            return None
        raw = request.raw_path
        if not raw.startswith("/") or (self._preserve_host and "Host" not in request.headers):
            return None
        return self._base_path + raw

    async def _forward(
        self,
        request: web.Request,
        *,
        headers: list[tuple[str, str]],
        data: bytes | AsyncIterator[bytes] | None,
        extra: dict[str, str],
        client: ClientAddress,
        start: float,
        more: bool,
    ) -> web.StreamResponse:
        method = request.method
        retries = 1 if not more and method in _IDEMPOTENT else 0  # a streamed body cannot be resent
        target = self._lean_target(request, more)
        if target is not None:
            pool = self.gw.upstream
            assert pool is not None
            assert not isinstance(data, AsyncIterator)
            try:
                lean = await pool.send(method, target, headers, data, resend=bool(retries))
            except UpstreamDisconnected:
                return self._upstream_failed(request, 502, "disconnected", extra)
            except UpstreamError as exc:
                status = 504 if exc.kind == "timeout" else 502
                return self._upstream_failed(request, status, exc.kind, extra)
            try:
                return await self._relay(
                    request,
                    status=lean.status,
                    reason=lean.reason,
                    received=lean.headers,
                    content=lean,
                    extra=extra,
                    client=client,
                    start=start,
                )
            finally:
                lean.release()
        session = self.gw.session
        assert session is not None, "the upstream session opens with the app"
        url = self._url(request)
        while True:
            try:
                async with session.request(
                    method, url, headers=headers, data=data, allow_redirects=False
                ) as upstream:
                    return await self._relay(
                        request,
                        status=upstream.status,
                        reason=upstream.reason or "",
                        received=upstream.headers.items(),
                        content=upstream.content,
                        extra=extra,
                        client=client,
                        start=start,
                    )
            except aiohttp.ServerDisconnectedError:
                if retries:
                    retries -= 1  # a pooled keep-alive connection the upstream had closed
                    continue
                return self._upstream_failed(request, 502, "disconnected", extra)
            except TimeoutError:
                return self._upstream_failed(request, 504, "timeout", extra)
            except aiohttp.ClientConnectorError:
                return self._upstream_failed(request, 502, "connect", extra)
            except aiohttp.ClientError:
                return self._upstream_failed(request, 502, "protocol", extra)

    def _upstream_failed(
        self, request: web.BaseRequest, status: int, kind: str, extra: dict[str, str]
    ) -> web.Response:
        self.gw.metrics.upstream_errors.labels(kind).inc()
        log_event(
            logger, logging.WARNING, "upstream_failed", request_id=extra[REQUEST_ID], kind=kind, status=status
        )
        return self._refuse(request, status, "upstream_error", kind, extra)

    async def _relay(
        self,
        request: web.Request,
        *,
        status: int,
        reason: str,
        received: Iterable[tuple[str, str]],
        content: _Body,
        extra: dict[str, str],
        client: ClientAddress,
        start: float,
    ) -> web.StreamResponse:
        limiter = self.gw.limiter
        if limiter is not None:
            await limiter.record_status(client.ip, request.method, request.path, status)
        resp = _RelayedResponse(
            status=status, reason=reason or None, headers=self._response_headers(received, extra)
        )
        self._latency.observe(time.perf_counter() - start)
        self._forwarded.inc()
        try:
            await resp.prepare(request)
            chunk = await content.readany()
            while chunk and not content.at_eof():
                await resp.write(chunk)
                chunk = await content.readany()
            await resp.write_eof(chunk)  # the last chunk goes with the end (one write for a small answer)
        except ConnectionError as exc:  # writing to the client failed: it reset or closed
            self._client_gone(extra[REQUEST_ID], request, exc)
        except (
            aiohttp.ClientPayloadError,
            aiohttp.ClientConnectionError,
            TimeoutError,
            UpstreamError,
        ) as exc:
            self.gw.metrics.upstream_errors.labels("mid_stream").inc()
            log_event(
                logger,
                logging.WARNING,
                "upstream_failed",
                request_id=extra[REQUEST_ID],
                kind="mid_stream",
                error=type(exc).__name__,
            )
            if request.transport is not None:
                request.transport.abort()  # the client must see a truncated response, not a short one
        return resp

    def _client_gone(self, rid: str, request: web.BaseRequest, exc: BaseException) -> None:
        """The client left mid-response: counted, one info line, the pooled upstream
        connection dropped with the response."""
        self.gw.metrics.client_gone.labels("response").inc()
        log_event(
            logger,
            logging.INFO,
            "client_gone",
            request_id=rid,
            stage="response",
            path=request.path[:256],
            error=type(exc).__name__,
        )

    async def _websocket(
        self,
        request: web.Request,
        url: URL,
        headers: list[tuple[str, str]],
        extra: dict[str, str],
        upgrade: RawRequest,
        *,
        outcome: Outcome | None,
    ) -> web.StreamResponse:
        session = self.gw.session
        assert session is not None
        limits = self.settings.limits
        bound = max_msg_size(limits.max_body_bytes, limits.oversize_body)
        protocols = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
        ]
        failed: web.Response | None = None
        try:
            upstream = await session.ws_connect(
                url,
                headers=CIMultiDict(handshake_free(headers)),
                protocols=protocols,
                max_msg_size=bound,
            )
        except TimeoutError:
            failed = self._upstream_failed(request, 504, "timeout", extra)
        except aiohttp.WSServerHandshakeError:
            failed = self._upstream_failed(request, 502, "websocket_handshake", extra)
        except aiohttp.ClientError:
            failed = self._upstream_failed(request, 502, "connect", extra)
        if failed is not None:
            self._audit(outcome, failed.status)
            return failed
        self._audit(outcome, 101)
        self._outcome["forwarded"].inc()
        gw = self.gw
        inspector = MessageInspector(
            upgrade, runner=gw.runner, settings=self.settings, audit=gw.audit, metrics=gw.metrics
        )
        return await relay(request, upstream, extra, max_msg_size=bound, inspector=inspector)
