"""The addon's hooks on mitmproxy's own test flows (``mitmproxy.test``), no sockets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from mitmproxy.test import taddons, tflow, tutils

from rampart.gateway.mitm.addon import METADATA_KEY, RampartAddon, raw_request
from rampart.verdicts import WAF_HEADER


def _flow(
    path: bytes, *, method: bytes = b"GET", body: bytes = b"", headers: Sequence[tuple[bytes, bytes]] = ()
):
    flow = tflow.tflow()
    flow.request.method = method.decode()
    flow.request.data.path = path
    flow.request.headers.fields = tuple(headers)
    flow.request.raw_content = body
    return flow


def test_raw_request_keeps_the_target_and_body_as_sent() -> None:
    flow = _flow(
        b"/greet?name=%3Cb%3E&x=\xff",
        method=b"POST",
        body=b'{"a": 1}',
        headers=[
            (b"Host", b"127.0.0.1:1"),
            (b"Content-Type", b"application/json"),
            (b"X-Dup", b"1"),
            (b"X-Dup", b"2"),
        ],
    )
    raw = raw_request(flow, "rid-1", body_limit=4)
    assert raw.method == "POST"
    assert raw.target == "/greet?name=%3Cb%3E&x=\udcff"
    assert raw.header_all("x-dup") == ["1", "2"]
    assert (raw.body, raw.body_truncated) == (b'{"a"', True)
    assert raw.http_version == "1.1"
    assert (raw.client_ip, raw.client_port) == ("127.0.0.1", 22)
    assert raw.request_id == "rid-1"


@pytest.mark.system
@pytest.mark.parametrize(
    ("accept", "content_type"),
    [("application/json", "application/json; charset=utf-8"), ("text/html", "text/html; charset=utf-8")],
)
async def test_block_answers_403_with_the_incident_id_only(
    crs_dir: Path, accept: str, content_type: str
) -> None:
    addon = RampartAddon()
    with taddons.context(addon) as tctx:  # type: ignore[no-untyped-call]
        tctx.configure(
            addon,
            rampart_engine="crs",
            rampart_mode="block",
            rampart_harness=True,
            rampart_crs_dir=str(crs_dir),
        )
        flow = _flow(
            b"/greet?name=%3Cscript%3Ealert(1)%3C/script%3E",
            headers=[(b"Host", b"127.0.0.1:1"), (b"Accept", accept.encode()), (b"X-Request-ID", b"rid-42")],
        )
        await addon.request(flow)
        assert flow.response is not None
        assert flow.response.status_code == 403
        assert flow.response.headers["Content-Type"] == content_type
        assert flow.response.headers["X-Request-ID"] == "rid-42"
        assert flow.response.headers[WAF_HEADER].startswith("block; score=")
        text = flow.response.get_text()
        assert "rid-42" in text
        assert "941" not in text
        assert "script" not in text
        if "json" in accept:
            assert json.loads(text) == {
                "status": 403,
                "error": "Forbidden",
                "message": "The request was blocked.",
                "incident": "rid-42",
            }
        meta = flow.metadata[METADATA_KEY]
        assert meta["blocked"] is True
        assert meta["verdicts"][0]["engine"] == "crs"
        assert "xss" in meta["verdicts"][0]["classes"]


@pytest.mark.system
async def test_detect_mode_only_records(crs_dir: Path) -> None:
    addon = RampartAddon()
    with taddons.context(addon) as tctx:  # type: ignore[no-untyped-call]
        tctx.configure(addon, rampart_engine="crs", rampart_mode="detect", rampart_crs_dir=str(crs_dir))
        flow = _flow(b"/greet?name=%3Cscript%3Ealert(1)%3C/script%3E", headers=[(b"Host", b"127.0.0.1:1")])
        await addon.request(flow)
        assert flow.response is None
        assert flow.metadata[METADATA_KEY]["verdicts"][0]["decision"] == "detect"
        assert flow.metadata[METADATA_KEY]["blocked"] is False
        assert flow.request.headers["X-Request-ID"] == flow.metadata[METADATA_KEY]["request_id"]
        flow.response = tutils.tresp()
        flow.response.headers[WAF_HEADER] = "allow; score=0; rules="
        addon.responseheaders(flow)
        assert WAF_HEADER not in flow.response.headers  # not harness mode: nothing disclosed


def _ws_flow(*messages: tuple[bool, bytes, bool]) -> Any:
    """A WebSocket flow to ``/ws`` holding ``messages`` (from_client, content, is_text); the
    hook judges the last one."""
    from mitmproxy.websocket import WebSocketMessage
    from wsproto.frame_protocol import Opcode

    flow = tflow.twebsocketflow(messages=False)
    flow.request.headers["X-Request-ID"] = "ws-rid"
    assert flow.websocket is not None
    flow.websocket.messages = [
        WebSocketMessage(Opcode.TEXT if text else Opcode.BINARY, client, content)
        for client, content, text in messages
    ]
    return flow


@pytest.mark.parametrize(("mode", "dropped"), [("block", True), ("detect", False)])
async def test_client_websocket_messages_are_inspected_like_the_proxy(
    tmp_path: Path, mode: str, dropped: bool
) -> None:
    from rampart.incidents import read_incidents

    audit = tmp_path / "ws.jsonl"
    addon = RampartAddon()
    with taddons.context(addon) as tctx:  # type: ignore[no-untyped-call]
        tctx.configure(addon, rampart_engine="testing", rampart_mode=mode, rampart_audit_log=str(audit))
        flow = _ws_flow((True, b"hello", True))
        flow.response = None
        flow.live = True
        await addon.request(flow)
        flow.response = tutils.tresp(status_code=101)
        await addon.websocket_message(flow)
        assert not flow.websocket.messages[-1].dropped  # a clean message goes on
        attack = _ws_flow((True, b'{"q": "<script>"}', True)).websocket.messages[0]
        flow.websocket.messages.append(attack)
        await addon.websocket_message(flow)
        assert flow.websocket.messages[-1].dropped is dropped
    incidents = read_incidents(audit)
    assert [(i.request_id, i.action, i.status, i.path) for i in incidents] == [
        ("ws-rid.ws2", "block" if dropped else "detect", 1008 if dropped else 101, "/ws")
    ]


async def test_upstream_websocket_messages_are_not_inspected() -> None:
    addon = RampartAddon()
    with taddons.context(addon) as tctx:  # type: ignore[no-untyped-call]
        tctx.configure(addon, rampart_engine="testing", rampart_mode="block")
        flow = _ws_flow((False, b"<script>", True))
        await addon.websocket_message(flow)
        assert not flow.websocket.messages[-1].dropped


async def test_a_non_utf8_binary_message_cannot_smuggle_a_payload() -> None:
    addon = RampartAddon()
    with taddons.context(addon) as tctx:  # type: ignore[no-untyped-call]
        tctx.configure(addon, rampart_engine="testing", rampart_mode="block")
        flow = _ws_flow((True, b"rmp-test-\xffattack", False))
        await addon.websocket_message(flow)
        assert flow.websocket.messages[-1].dropped
