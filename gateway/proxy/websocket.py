"""WebSocket relay with client-message inspection.

The upgrade request is inspected like any other request. Once both sides are open, every
client message is inspected by the configured engines before it is forwarded, as a synthetic
``POST`` to the upgrade's target (:func:`message_request`); in block mode a message the
enforcing engine blocks is not forwarded and both sides are closed with 1008. Binary
messages that are not UTF-8 are inspected in two readings (invalid bytes dropped, and
replaced; counted as ``binary_not_utf8``): one stray byte must not carry a payload past
the engines. Upstream
messages are relayed uninspected. Both sides are bounded by :func:`max_msg_size` (1009
past it).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import urllib.parse

import aiohttp
from aiohttp import web

from rampart.gateway.audit import AuditLog, log_event
from rampart.gateway.config import GatewaySettings
from rampart.gateway.decision import Outcome, RequestFacts, decide
from rampart.gateway.metrics import GatewayMetrics
from rampart.gateway.model import RawRequest
from rampart.gateway.proxy.inspection import EngineRunner

__all__ = [
    "MessageInspector",
    "Refusal",
    "handshake_free",
    "is_websocket_upgrade",
    "max_msg_size",
    "message_request",
    "readings",
    "relay",
]

logger = logging.getLogger("rampart.gateway.proxy")

_HANDSHAKE = frozenset(
    {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol"}
)
# Headers that describe the upgrade request's (empty) body, replaced on a message's request.
_BODY_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding", "content-encoding"})
_PASS_BOUND = 4 << 20  # aiohttp's own default message bound
_CLOSE_REASON_MAX = 123  # bytes a close frame's reason may hold
FORM = "application/x-www-form-urlencoded"
_CLIENT_OUTCOMES = ("forwarded", "blocked", "binary_not_utf8", "too_big")


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    """Why a client message is not forwarded: the close code and reason both sides get."""

    code: int
    reason: str


def is_websocket_upgrade(request: web.BaseRequest) -> bool:
    return (
        request.headers.get("Upgrade", "").lower() == "websocket"
        and "upgrade" in request.headers.get("Connection", "").lower()
    )


def handshake_free(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers without the client's handshake ones (the upstream handshake makes its own)."""
    return [(k, v) for k, v in headers if k.lower() not in _HANDSHAKE]


def max_msg_size(body_limit: int, oversize_body: str) -> int:
    """aiohttp's ``max_msg_size`` for both sides: messages of at most ``body_limit`` bytes
    pass (aiohttp refuses a message of ``max_msg_size`` bytes or more, and reads 0 as
    unbounded). With ``oversize_body = "pass"``, at least aiohttp's 4 MiB default: longer
    messages pass, the engines seeing their first ``body_limit`` bytes."""
    if oversize_body == "pass":
        return max(body_limit + 1, _PASS_BOUND)
    return body_limit + 1


def _json_container(text: str) -> bool:
    if text.lstrip()[:1] not in ("{", "["):
        return False
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def readings(data: str | bytes) -> list[str | bytes]:
    """What the engines read of one message: a text message or a UTF-8 binary one as it is;
    a binary message that is not UTF-8 twice, with the invalid bytes dropped (how a lenient
    application decodes it: ``\xff{"q": ...}`` is JSON again) and replaced by U+FFFD (so
    they still separate words). One stray byte must not carry a payload past the engines."""
    if isinstance(data, str):
        return [data]
    try:
        data.decode()
    except UnicodeDecodeError:
        return [data.decode("utf-8", "ignore"), data.decode("utf-8", "replace")]
    return [data]


def message_request(upgrade: RawRequest, data: str | bytes, index: int, body_limit: int) -> RawRequest:
    """The request the engines inspect for one reading of a client message (:func:`readings`):
    the upgrade's target, headers, client and request id (suffixed ``.ws<index>``), method
    ``POST`` and the message as the body (its first ``body_limit`` bytes, ``body_truncated``
    set, when longer). A JSON object or array goes as ``application/json`` (its fields are
    parameters); any other message as one form parameter, ``message=<text>``
    (``application/x-www-form-urlencoded``): both engines read parameters with every rule
    they have, while a ``text/plain`` body is read by almost none of them, and CRS's
    default policy refuses that content type outright (rule 920420)."""
    if isinstance(data, str):
        text, body = data, data.encode()
    else:
        text, body = data.decode("utf-8", "replace"), data
    if _json_container(text):
        media = "application/json"
    else:
        media = FORM
        body = b"message=" + urllib.parse.quote_plus(text).encode()
    headers = (
        *((k, v) for k, v in upgrade.headers if k.lower() not in _BODY_HEADERS),
        ("Content-Type", media),
        ("Content-Length", str(len(body))),
    )
    more = len(body) > body_limit
    if more:
        body = body[:body_limit]
        if media == FORM:  # do not leave half an escape (``%4``) at the cut
            cut = body.rfind(b"%", max(0, len(body) - 2))
            body = body[:cut] if cut != -1 else body
    return dataclasses.replace(
        upgrade,
        method="POST",
        headers=headers,
        body=body,
        request_id=f"{upgrade.request_id}.ws{index}",
        body_truncated=more,
    )


class MessageInspector:
    """One connection's client-message checks: ``await inspector.check(data)`` is None to
    forward the message, or the :class:`Refusal` to close both sides with."""

    def __init__(
        self,
        upgrade: RawRequest,
        *,
        runner: EngineRunner,
        settings: GatewaySettings,
        audit: AuditLog,
        metrics: GatewayMetrics,
    ) -> None:
        self.upgrade = upgrade
        self.runner = runner
        self.audit = audit
        self.mode = settings.mode
        self.harness = settings.harness
        self.names = tuple(e.name for e in runner.engines)
        path = upgrade.target.split("?", 1)[0]
        self.facts = RequestFacts(
            upgrade.request_id, upgrade.client_ip, upgrade.method, upgrade.header("Host") or "", path
        )
        self.body_limit = settings.limits.max_body_bytes
        self.audit_limit = settings.audit.max_per_request
        self.count = 0
        self.outcome = {o: metrics.ws_messages.labels("client", o) for o in _CLIENT_OUTCOMES}
        self.upstream_outcome = {
            o: metrics.ws_messages.labels("upstream", o) for o in ("forwarded", "too_big")
        }

    async def check(self, data: str | bytes) -> Refusal | None:
        self.count += 1
        texts = readings(data)
        if len(texts) > 1:
            self.outcome["binary_not_utf8"].inc()
        blocked = False
        for text in texts:
            raw = message_request(self.upgrade, text, self.count, self.body_limit)
            verdicts = await self.runner.inspect(raw)
            outcome = decide(
                verdicts,
                mode=self.mode,
                harness=False,
                names=self.names,
                facts=dataclasses.replace(self.facts, request_id=raw.request_id),
                audit_limit=self.audit_limit,
            )
            blocked = outcome.blocked
            if outcome.decision != "allow":
                self._record(outcome)
            if blocked:
                break
        if not blocked:
            self.outcome["forwarded"].inc()
            return None
        self.outcome["blocked"].inc()
        reason = f"blocked; incident {raw.request_id}"
        if len(reason) > _CLOSE_REASON_MAX:
            reason = "blocked"
        return Refusal(aiohttp.WSCloseCode.POLICY_VIOLATION, reason)

    def too_big(self, direction: str = "client") -> None:
        """A message over :func:`max_msg_size`; aiohttp closed that side with 1009."""
        if direction == "client":
            self.outcome["too_big"].inc()
        else:
            self.upstream_outcome["too_big"].inc()
        log_event(
            logger,
            logging.INFO,
            "ws_message_too_big",
            request_id=self.upgrade.request_id,
            direction=direction,
            client=self.upgrade.client_ip,
        )

    def _record(self, outcome: Outcome) -> None:
        """Log each flagging engine; audit with the message's fate as the status: the close
        code 1008 when it was refused, 101 (the connection's) when it was forwarded."""
        for action in outcome.actions:
            if action.decision == "allow":
                continue
            log_event(
                logger,
                logging.INFO,
                "ws_message",
                request_id=self.upgrade.request_id,
                message=self.count,
                action="block" if action.role == "enforce" and outcome.blocked else "detect",
                engine=action.name,
                role=action.role,
                score=action.verdict.score,
                rules=",".join(action.verdict.rule_ids),
                client=self.upgrade.client_ip,
                path=self.facts.path[:256],
            )
        if outcome.incidents:
            status = int(aiohttp.WSCloseCode.POLICY_VIOLATION) if outcome.blocked else 101
            self.audit.submit(outcome.audit_records(status))


def _too_big(msg: aiohttp.WSMessage) -> bool:
    return (
        msg.type == aiohttp.WSMsgType.ERROR
        and isinstance(msg.data, aiohttp.WebSocketError)
        and msg.data.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    )


async def _pump_client(
    src: web.WebSocketResponse, dst: aiohttp.ClientWebSocketResponse, inspector: MessageInspector | None
) -> Refusal | None:
    """Client to upstream until either ends; the refusal that stopped it, if any (the relay
    closes both sides with it, once the other pump is stopped)."""
    async for msg in src:
        if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            if inspector is not None and _too_big(msg):
                inspector.too_big()
            break
        refusal = await inspector.check(msg.data) if inspector is not None else None
        if refusal is not None:
            return refusal
        if msg.type == aiohttp.WSMsgType.TEXT:
            await dst.send_str(msg.data)
        else:
            await dst.send_bytes(msg.data)
    if not dst.closed:
        await dst.close(code=src.close_code or aiohttp.WSCloseCode.OK)
    return None


async def _pump_upstream(
    src: aiohttp.ClientWebSocketResponse, dst: web.WebSocketResponse, inspector: MessageInspector | None
) -> None:
    forwarded = inspector.upstream_outcome["forwarded"] if inspector is not None else None
    async for msg in src:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await dst.send_bytes(msg.data)
        else:
            if inspector is not None and _too_big(msg):
                inspector.too_big("upstream")
            break
        if forwarded is not None:
            forwarded.inc()
    if not dst.closed:
        await dst.close(code=src.close_code or aiohttp.WSCloseCode.OK)


async def relay(
    request: web.Request,
    upstream: aiohttp.ClientWebSocketResponse,
    response_headers: dict[str, str],
    *,
    max_msg_size: int = _PASS_BOUND,
    inspector: MessageInspector | None = None,
) -> web.WebSocketResponse:
    """Accept the client's upgrade with the upstream's chosen subprotocol and relay, each
    client message checked by ``inspector`` (None: relayed as is)."""
    ws = web.WebSocketResponse(
        protocols=(upstream.protocol,) if upstream.protocol else (),
        compress=False,
        max_msg_size=max_msg_size,
    )
    ws.headers.update(response_headers)
    await ws.prepare(request)
    client = asyncio.create_task(_pump_client(ws, upstream, inspector))
    tasks = [client, asyncio.create_task(_pump_upstream(upstream, ws, inspector))]
    refusal = None
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if client.done() and not client.cancelled() and client.exception() is None:
            refusal = client.result()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError, ConnectionError):
                await task
        if refusal is None:
            await upstream.close()
            await ws.close()
        else:
            await ws.close(code=refusal.code, message=refusal.reason.encode())
            await upstream.close(code=refusal.code)
    return ws
