"""WebSocket messages through the gateway: client messages are inspected before they are
forwarded (blocked with 1008 in block mode, recorded in detect mode), benign ones arrive
byte for byte, oversized ones close with 1009; upstream messages are relayed as they are."""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.test_utils import TestServer

from rampart.gateway.engines import create_engine
from rampart.gateway.model import EngineSettings, RawRequest
from rampart.gateway.proxy.inspection import NamedEngine
from rampart.gateway.proxy.websocket import FORM, max_msg_size, message_request, readings
from rampart.incidents import read_incidents
from tests.gateway.proxy.conftest import literal, literal_engine

XSS_JSON = '{"q": "<script>alert(1)</script>"}'
SQLI_JSON = '{"q": "\' UNION SELECT token FROM secrets--"}'
CMD_JSON = '{"cmd": "; cat /etc/passwd"}'


@dataclass
class Recorder:
    """What the upstream received, per connection, and when each connection ended."""

    received: list[tuple[WSMsgType, str | bytes]] = field(default_factory=list)
    handshakes: list[dict[str, str]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_codes: list[int | None] = field(default_factory=list)


@dataclass
class EchoUpstream:
    url: str
    rec: Recorder


@pytest.fixture
async def echo_upstream() -> AsyncIterator[EchoUpstream]:
    """A WebSocket upstream that echoes every message unchanged and records it; the message
    ``send-big:N`` makes it send N bytes instead."""
    rec = Recorder()

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("chat.v2", "chat.v1"), max_msg_size=0)
        await ws.prepare(request)
        rec.handshakes.append(dict(request.headers))
        try:
            async for msg in ws:
                rec.received.append((msg.type, msg.data))
                if msg.type == WSMsgType.TEXT and msg.data.startswith("send-big:"):
                    await ws.send_bytes(b"x" * int(msg.data.split(":")[1]))
                elif msg.type == WSMsgType.TEXT:
                    await ws.send_str(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
        finally:
            rec.close_codes.append(ws.close_code)
            rec.closed.set()
        return ws

    app = web.Application()
    app.router.add_get("/chat", ws_handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield EchoUpstream(str(server.make_url("")).rstrip("/"), rec)
    finally:
        await server.close()


@pytest.fixture
def native() -> NamedEngine:
    """A fresh engine of rampart's YAML rules per test, named ``native`` as the gateway's first
    engine (a gateway closes its engines when it stops). The expected rule ids are the YAML
    rules'; CRS, which the ``native`` engine adds, flags the NUL byte of the binary message
    (920270)."""
    return NamedEngine("native", create_engine("rules", EngineSettings(mode="block")))


async def _echo(ws: aiohttp.ClientWebSocketResponse, data: str | bytes) -> Any:
    if isinstance(data, str):
        await ws.send_str(data)
    else:
        await ws.send_bytes(data)
    msg = await ws.receive(timeout=5)
    assert msg.type == (WSMsgType.TEXT if isinstance(data, str) else WSMsgType.BINARY), msg
    return msg.data


def _metric(gw: Any, direction: str, outcome: str) -> float:
    value = gw.gateway.metrics.ws_messages.labels(direction, outcome)._value.get()
    return float(value)


BENIGN: list[str | bytes] = [
    "hello",
    "",
    "héllo ✓ \u2028 snowman ☃",
    '{"type": "chat", "text": "I\'d like to select one from the union -- thanks"}',
    "[1, 2, 3]",
    "{not json",
    '{"path": "docs/readme.md", "n": 0.5}',
    b'{"type": "ping"}',
    bytes(range(256)),
    b"\xff\xfe\x00binary",
]


@pytest.mark.parametrize("mode", ["block", "detect"])
async def test_benign_messages_arrive_byte_for_byte(make_gateway, client, echo_upstream, native, mode):
    gw = await make_gateway(upstream_url=echo_upstream.url, mode=mode, engines=[native])
    async with client.ws_connect(gw.url + "/chat?room=1") as ws:
        for data in BENIGN:
            assert await _echo(ws, data) == data
        await ws.close()
    await asyncio.wait_for(echo_upstream.rec.closed.wait(), 5)
    assert [data for _, data in echo_upstream.rec.received] == BENIGN
    assert _metric(gw, "client", "blocked") == 0
    assert _metric(gw, "client", "binary_not_utf8") == 2  # inspected with invalid bytes replaced
    assert _metric(gw, "client", "forwarded") == len(BENIGN)
    assert _metric(gw, "upstream", "forwarded") == len(BENIGN)


@pytest.mark.parametrize(
    ("attack", "rules"),
    [
        (XSS_JSON, {"7001"}),
        (SQLI_JSON, {"3001"}),
        (CMD_JSON, {"6002"}),
        (XSS_JSON.encode(), {"7001"}),  # binary, but UTF-8: inspected too
        (b"\xff" + XSS_JSON.encode(), {"7001"}),  # one invalid byte does not carry it past
        ("' UNION SELECT token FROM secrets--", {"3001"}),  # plain text: read as a parameter
        ("<script>alert(1)</script>", {"7001"}),
    ],
)
async def test_attack_message_blocked_with_1008_and_not_delivered(
    make_gateway, client, echo_upstream, native, tmp_path, attack, rules
):
    audit = tmp_path / "audit.jsonl"
    gw = await make_gateway(
        upstream_url=echo_upstream.url, mode="block", engines=[native], audit={"path": str(audit)}
    )
    async with client.ws_connect(gw.url + "/chat", headers={"X-Request-ID": "ws-b"}) as ws:
        assert await _echo(ws, "before") == "before"
        if isinstance(attack, str):
            await ws.send_str(attack)
        else:
            await ws.send_bytes(attack)
        msg = await ws.receive(timeout=5)
        assert msg.type == WSMsgType.CLOSE
        assert msg.data == WSCloseCode.POLICY_VIOLATION
        assert msg.extra == "blocked; incident ws-b.ws2"  # the incident id, nothing internal
    await asyncio.wait_for(echo_upstream.rec.closed.wait(), 5)
    assert [data for _, data in echo_upstream.rec.received] == ["before"]
    assert echo_upstream.rec.close_codes == [WSCloseCode.POLICY_VIOLATION]
    await gw.gateway.audit.flush()
    incidents = read_incidents(audit)
    assert {i.request_id for i in incidents} == {"ws-b.ws2"}
    assert {i.action for i in incidents} == {"block"}
    assert rules <= {i.rule for i in incidents}
    assert _metric(gw, "client", "blocked") == 1


async def test_attack_message_in_detect_mode_is_delivered_and_audited(
    make_gateway, client, echo_upstream, native, tmp_path, caplog
):
    audit = tmp_path / "audit.jsonl"
    gw = await make_gateway(
        upstream_url=echo_upstream.url, mode="detect", engines=[native], audit={"path": str(audit)}
    )
    caplog.set_level("INFO", logger="rampart.gateway.proxy")
    async with client.ws_connect(gw.url + "/chat", headers={"X-Request-ID": "ws-d"}) as ws:
        assert await _echo(ws, "hi") == "hi"
        assert await _echo(ws, XSS_JSON) == XSS_JSON
        assert await _echo(ws, "after") == "after"
        await ws.close()
    await asyncio.wait_for(echo_upstream.rec.closed.wait(), 5)
    assert [data for _, data in echo_upstream.rec.received] == ["hi", XSS_JSON, "after"]
    await gw.gateway.audit.flush()
    incidents = read_incidents(audit)
    assert {i.request_id for i in incidents} == {"ws-d.ws2"}
    assert {i.action for i in incidents} == {"detect"}
    assert "7001" in {i.rule for i in incidents}
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ws_message ")]
    assert len(lines) == 1
    assert "request_id=ws-d message=2 action=detect engine=native role=enforce" in lines[0]
    assert _metric(gw, "client", "forwarded") == 3
    metrics = gw.gateway.metrics.render().decode()
    assert 'rampart_gateway_ws_messages_total{direction="client",outcome="forwarded"} 3.0' in metrics


async def test_shadow_engine_only_records(make_gateway, client, echo_upstream, tmp_path):
    """The enforcing engine allows; a shadow that would block only writes incidents."""
    audit = tmp_path / "audit.jsonl"
    enforce = literal_engine("enforce", mode="block", literals=("never-matches",))
    shadow = literal_engine("shadow", mode="block")
    gw = await make_gateway(
        upstream_url=echo_upstream.url,
        mode="block",
        engines=[enforce, shadow],
        audit={"path": str(audit)},
    )
    async with client.ws_connect(gw.url + "/chat", headers={"X-Request-ID": "ws-s"}) as ws:
        assert await _echo(ws, "rmp-test-attack") == "rmp-test-attack"
        await ws.close()
    await gw.gateway.audit.flush()
    incidents = read_incidents(audit)
    assert [(i.engine, i.action, i.request_id) for i in incidents] == [("shadow", "detect", "ws-s.ws1")]


async def test_message_request_shape_seen_by_the_engines(make_gateway, client, echo_upstream):
    engine = literal_engine(mode="block")
    gw = await make_gateway(upstream_url=echo_upstream.url, mode="block", engines=[engine])
    headers = {"X-Request-ID": "shape", "Cookie": "sid=1", "X-Custom": "v"}
    async with client.ws_connect(gw.url + "/chat?room=a%20b&x=1", headers=headers) as ws:
        upgrade = literal(engine).last
        assert upgrade is not None
        assert await _echo(ws, '{"a": [1]}') == '{"a": [1]}'
        json_msg = literal(engine).last
        assert await _echo(ws, "[oops") == "[oops"
        text_msg = literal(engine).last
        await ws.close()
    assert json_msg is not None
    assert text_msg is not None
    for index, (raw, media, body) in enumerate(
        [(json_msg, "application/json", b'{"a": [1]}'), (text_msg, FORM, b"message=%5Boops")], start=1
    ):
        assert raw.method == "POST"
        assert raw.target == "/chat?room=a%20b&x=1"
        assert raw.body == body
        assert not raw.body_truncated
        assert raw.request_id == f"shape.ws{index}"
        assert raw.client_ip == upgrade.client_ip
        assert raw.header_all("Content-Type") == [media]
        assert raw.header("Content-Length") == str(len(body))
        assert raw.header("Cookie") == "sid=1"
        assert raw.header("X-Custom") == "v"
        assert raw.header("Upgrade") == upgrade.header("Upgrade")


async def test_text_message_blocked_by_an_engine_that_reads_the_body(make_gateway, client, echo_upstream):
    engine = literal_engine(mode="block")
    gw = await make_gateway(upstream_url=echo_upstream.url, mode="block", engines=[engine])
    async with client.ws_connect(gw.url + "/chat") as ws:
        await ws.send_str("x rmp-test-attack")  # form-encoded unchanged: letters and '-'
        msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data) == (WSMsgType.CLOSE, WSCloseCode.POLICY_VIOLATION)
    await asyncio.wait_for(echo_upstream.rec.closed.wait(), 5)
    assert echo_upstream.rec.received == []
    assert _metric(gw, "client", "blocked") == 1


async def test_engine_crash_fails_open(make_gateway, client, echo_upstream):
    engine = literal_engine(mode="block")
    gw = await make_gateway(upstream_url=echo_upstream.url, mode="block", engines=[engine])
    async with client.ws_connect(gw.url + "/chat") as ws:
        assert await _echo(ws, "rmp-test-crash") == "rmp-test-crash"
        await ws.close()
    metrics = gw.gateway.metrics.render().decode()
    assert 'rampart_gateway_engine_errors_total{engine="testing"} 1.0' in metrics


async def test_oversized_client_message_closes_with_1009(make_gateway, client, echo_upstream):
    gw = await make_gateway(upstream_url=echo_upstream.url, limits={"max_body_bytes": 1024})
    async with client.ws_connect(gw.url + "/chat") as ws:
        assert await _echo(ws, "a" * 1024) == "a" * 1024  # at the limit: fine
        await ws.send_str("b" * 1025)
        msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data) == (WSMsgType.CLOSE, WSCloseCode.MESSAGE_TOO_BIG)
    await asyncio.wait_for(echo_upstream.rec.closed.wait(), 5)
    assert [data for _, data in echo_upstream.rec.received] == ["a" * 1024]
    assert _metric(gw, "client", "too_big") == 1


async def test_oversized_upstream_message_closes_with_1009(make_gateway, client, echo_upstream):
    gw = await make_gateway(upstream_url=echo_upstream.url, limits={"max_body_bytes": 1024})
    async with client.ws_connect(gw.url + "/chat") as ws:
        await ws.send_str("send-big:1000")
        assert (await ws.receive(timeout=5)).data == b"x" * 1000
        await ws.send_str("send-big:5000")
        msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data) == (WSMsgType.CLOSE, WSCloseCode.MESSAGE_TOO_BIG)
    assert _metric(gw, "upstream", "too_big") == 1


async def test_oversize_pass_inspects_the_first_part(make_gateway, client, echo_upstream):
    """With ``oversize_body = "pass"`` a long message is forwarded; the engines see its first
    ``max_body_bytes`` bytes, flagged as truncated (like an HTTP body)."""
    engine = literal_engine(mode="block")
    gw = await make_gateway(
        upstream_url=echo_upstream.url,
        mode="block",
        engines=[engine],
        limits={"max_body_bytes": 64, "oversize_body": "pass"},
    )
    late_attack = "a" * 100 + " rmp-test-attack"
    async with client.ws_connect(gw.url + "/chat") as ws:
        assert await _echo(ws, late_attack) == late_attack
        seen = literal(engine).last
        await ws.send_str("rmp-test-attack" + "a" * 100)
        msg = await ws.receive(timeout=5)
    assert seen is not None
    assert seen.body == b"message=" + late_attack.encode()[: 64 - len(b"message=")]
    assert seen.body_truncated
    assert seen.header("Content-Length") == str(len(b"message=") + len(late_attack))
    assert (msg.type, msg.data) == (WSMsgType.CLOSE, WSCloseCode.POLICY_VIOLATION)


async def test_subprotocol_negotiated_through_the_gateway(make_gateway, client, echo_upstream):
    gw = await make_gateway(upstream_url=echo_upstream.url)
    async with client.ws_connect(gw.url + "/chat", protocols=("chat.v1", "chat.v9")) as ws:
        assert ws.protocol == "chat.v1"
        assert await _echo(ws, "hi") == "hi"
        await ws.close()
    offered = echo_upstream.rec.handshakes[0]["Sec-WebSocket-Protocol"]
    assert [p.strip() for p in offered.split(",")] == ["chat.v1", "chat.v9"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"a": 1}', "application/json"),
        ("  [1, 2]\n", "application/json"),
        ('"a string"', FORM),  # JSON, but not an object or array
        ("42", FORM),
        ("{broken", FORM),
        ("[" * 5000 + "]" * 5000, "application/json"),  # deep: the engines judge that
        (b'{"a": 1}', "application/json"),
        (b"plain bytes", FORM),
    ],
)
def test_message_content_type(data, expected):
    upgrade = RawRequest("GET", "/ws", (("Content-Type", "x/y"), ("Host", "h")), request_id="r")
    raw = message_request(upgrade, data, 1, 1 << 20)
    assert raw is not None
    assert raw.header_all("content-type") == [expected]
    assert raw.header("host") == "h"
    text = data if isinstance(data, str) else data.decode()
    if expected == FORM:
        assert urllib.parse.parse_qs(raw.body.decode(), keep_blank_values=True) == {"message": [text]}


@pytest.mark.parametrize("limit", [10, 11, 12, 13])
def test_a_cut_form_body_ends_on_a_whole_escape(limit: int) -> None:
    upgrade = RawRequest("GET", "/ws", (), request_id="r")
    raw = message_request(upgrade, "a<<<<<<<<<<", 1, limit)  # message=a%3C%3C...
    assert raw.body_truncated
    assert raw.body.startswith(b"message=a")
    assert not re.search(rb"%[0-9A-F]?$", raw.body)
    assert len(raw.body) <= limit


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("text", ["text"]),
        (b"utf-8 \xe2\x98\x83", [b"utf-8 \xe2\x98\x83"]),
        (b"\xc3\x28 <script>", ["( <script>", "\ufffd( <script>"]),
        (b'\xff{"q": 1}', ['{"q": 1}', '\ufffd{"q": 1}']),
    ],
)
def test_non_utf8_binary_is_read_two_ways(data: str | bytes, expected: list[str | bytes]) -> None:
    assert readings(data) == expected


@pytest.mark.parametrize(
    ("limit", "oversize", "bound"),
    [(1024, "reject", 1025), (0, "reject", 1), (1024, "pass", 4 << 20), (8 << 20, "pass", (8 << 20) + 1)],
)
def test_max_msg_size(limit, oversize, bound):
    assert max_msg_size(limit, oversize) == bound


@pytest.mark.system
async def test_crs_shadow_records_websocket_messages(
    make_gateway, client, echo_upstream, crs_dir, native, tmp_path
):
    crs = NamedEngine("crs", create_engine("crs", EngineSettings(mode="block", crs_dir=str(crs_dir))))
    audit = tmp_path / "audit.jsonl"
    gw = await make_gateway(
        upstream_url=echo_upstream.url, mode="block", engines=[native, crs], audit={"path": str(audit)}
    )
    async with client.ws_connect(gw.url + "/chat", headers={"X-Request-ID": "ws-c"}) as ws:
        assert await _echo(ws, '{"text": "hello there"}') == '{"text": "hello there"}'
        assert await _echo(ws, "hello there, how are you?") == "hello there, how are you?"
        await ws.send_str(XSS_JSON)
        msg = await ws.receive(timeout=10)
    assert (msg.type, msg.data) == (WSMsgType.CLOSE, WSCloseCode.POLICY_VIOLATION)
    await gw.gateway.audit.flush()
    incidents = read_incidents(audit)
    by_engine = {(i.engine, i.action, i.request_id) for i in incidents}
    assert ("rules", "block", "ws-c.ws3") in by_engine  # the YAML rules engine names itself
    assert ("crs", "detect", "ws-c.ws3") in by_engine
    # the benign JSON and plain-text messages: no finding in either engine (a plain-text
    # message goes as a form parameter, so CRS's content-type policy, 920420, stays quiet)
    assert not [i for i in incidents if i.request_id in ("ws-c.ws1", "ws-c.ws2")]
