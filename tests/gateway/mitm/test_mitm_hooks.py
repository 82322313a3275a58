"""The addon's hooks on mitmproxy's own test flows (``mitmproxy.test``), no sockets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from mitmproxy.test import taddons, tflow, tutils

from gateway.mitm_addon import METADATA_KEY, RampartAddon, raw_request
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
    [("application/json", "application/json"), ("text/html", "text/html; charset=utf-8")],
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
            assert json.loads(text) == {"status": 403, "error": "Forbidden", "incident": "rid-42"}
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
