"""Engines through the proxy: detect flags, block stops, shadows report, failures fail open."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from rampart.gateway.engines import UnknownEngineError, create_engine, names
from rampart.gateway.model import EngineSettings
from rampart.incidents import read_incidents
from rampart.verdicts import parse_verdict_header
from tests.gateway.proxy.conftest import literal, literal_engine
from tests.gateway.proxy.upstream import SEEN

ATTACK = "/api/products?category=%3Cscript%3Ealert(1)%3C/script%3E"


async def test_detect_mode_forwards_and_flags_in_harness(make_gateway, client, upstream):
    gw = await make_gateway(mode="detect", harness=True)
    async with client.get(gw.url + ATTACK, headers={"X-Request-ID": "det-1"}) as resp:
        assert resp.status == 200
        verdict = parse_verdict_header(resp.headers["X-Rampart-Waf"])
        assert resp.headers["X-Rampart-Waf-Testing"] == resp.headers["X-Rampart-Waf"]
    assert verdict is not None
    assert (verdict.decision, verdict.score, verdict.rules) == ("detect", 5, ("T100",))
    assert "det-1" in upstream.app[SEEN]


async def test_block_mode_stops_the_request_before_the_upstream(make_gateway, client, upstream):
    gw = await make_gateway(mode="block", harness=True)
    async with client.get(
        gw.url + ATTACK, headers={"X-Request-ID": "blk-1", "Accept": "application/json"}
    ) as resp:
        assert resp.status == 403
        page = await resp.json()
        assert resp.headers["X-Rampart-Waf"].startswith("block; ")
        assert resp.headers["X-Request-ID"] == "blk-1"
    assert page == {
        "status": 403,
        "error": "Forbidden",
        "message": "The request was blocked.",
        "incident": "blk-1",
    }
    assert "blk-1" not in upstream.app[SEEN]


async def test_block_page_discloses_nothing_outside_harness(make_gateway, client):
    gw = await make_gateway(mode="block")
    async with client.get(gw.url + ATTACK, headers={"X-Request-ID": "blk-2"}) as resp:
        assert resp.status == 403
        html = await resp.text()
        assert not [h for h in resp.headers if h.lower().startswith("x-rampart")]
    assert "blk-2" in html
    for leak in ("T100", "literal", "score", "testing", "script"):
        assert leak not in html


async def test_benign_request_in_block_mode_passes_with_allow_header(make_gateway, client):
    gw = await make_gateway(mode="block", harness=True)
    async with client.get(gw.url + "/api/products?category=shoes") as resp:
        assert resp.status == 200
        assert resp.headers["X-Rampart-Waf"] == "allow; score=0; rules="


async def test_upstream_verdict_headers_filtered_unless_harness(make_gateway, client):
    gw = await make_gateway()
    async with client.get(gw.url + "/rasp") as resp:
        assert "X-Rampart-Rasp" not in resp.headers
        assert "X-Rampart-Waf" not in resp.headers  # an upstream cannot forge the gateway's verdict
    harness = await make_gateway(harness=True)
    async with client.get(harness.url + "/rasp") as resp:
        assert resp.headers["X-Rampart-Rasp"] == "detect; detections=ssrf"
        assert resp.headers["X-Rampart-Waf"] == "allow; score=0; rules="


async def test_first_engine_enforces_others_shadow(make_gateway, client, upstream):
    enforcing = literal_engine("native", literals=("nothing-matches",), mode="block")
    shadow = literal_engine("crs", mode="block")
    gw = await make_gateway(mode="block", harness=True, engines=[enforcing, shadow])
    async with client.get(gw.url + ATTACK, headers={"X-Request-ID": "shadow-1"}) as resp:
        assert resp.status == 200  # the shadow would block, but does not enforce
        assert resp.headers["X-Rampart-Waf"] == "allow; score=0; rules="
        assert resp.headers["X-Rampart-Waf-Native"] == "allow; score=0; rules="
        assert resp.headers["X-Rampart-Waf-Crs"] == "block; score=5; rules=T100"
    assert "shadow-1" in upstream.app[SEEN]
    assert literal(enforcing).inspected == literal(shadow).inspected == 1


async def test_engine_exception_fails_open_and_is_counted(make_gateway, client):
    gw = await make_gateway(mode="block", harness=True)
    async with client.get(gw.url + "/x?q=rmp-test-crash%3Cscript") as resp:
        assert resp.status == 200
        assert resp.headers["X-Rampart-Waf"] == "allow; score=0; rules="
    metrics = gw.gateway.metrics.render().decode()
    assert 'rampart_gateway_engine_errors_total{engine="testing"} 1.0' in metrics


@pytest.mark.parametrize(("body_size", "where"), [(100, "inline"), (64 * 1024, "pool")])
async def test_large_bodies_are_inspected_off_the_loop(make_gateway, client, body_size, where):
    gw = await make_gateway(mode="block")
    body = b"a" * body_size + b"<script>"
    async with client.post(gw.url + "/x", data=body) as resp:
        assert resp.status == 403
    metrics = gw.gateway.metrics.render().decode()
    assert f'rampart_gateway_engine_seconds_count{{engine="testing",where="{where}"}} 1.0' in metrics


async def test_slow_engine_runs_in_the_pool(make_gateway, client):
    engine = literal_engine(slow=True, delay=0.01)
    gw = await make_gateway(engines=[engine])
    async with client.get(gw.url + "/x") as resp:
        assert resp.status == 200
    metrics = gw.gateway.metrics.render().decode()
    assert 'rampart_gateway_engine_seconds_count{engine="testing",where="pool"} 1.0' in metrics


async def test_audit_log_lines_are_shared_incidents_with_secrets_redacted(make_gateway, client, tmp_path):
    path = tmp_path / "audit.jsonl"
    shadow = literal_engine("crs", literals=("<script",))
    gw = await make_gateway(
        mode="block", audit={"path": str(path)}, engines=[literal_engine("native", mode="block"), shadow]
    )
    body = json.dumps({"comment": "<script>x</script>", "password": "hunter2"}).encode()
    async with client.post(gw.url + "/api/comments", data=body, headers={"X-Request-ID": "aud-1"}) as resp:
        assert resp.status == 403
    await gw.gateway.audit.flush()
    incidents = read_incidents(path)
    assert [(i.engine, i.action, i.rule) for i in incidents] == [
        ("native", "block", "T100"),
        ("crs", "detect", "T100"),
    ]
    for incident in incidents:
        assert incident.request_id == "aud-1"
        assert incident.layer == "waf"
        assert "<script" in incident.evidence
        assert "hunter2" not in incident.evidence
        assert "hunter2" not in incident.to_json()


def test_registry_lists_and_refuses_unknown_engines():
    assert {"native", "crs", "testing"} <= set(names())
    assert create_engine("testing", EngineSettings()).name == "testing"
    with pytest.raises(UnknownEngineError, match="unknown engine 'nope'; known: crs, native"):
        create_engine("nope", EngineSettings())


async def test_an_engine_that_proves_slow_moves_off_the_loop(make_gateway, client):
    engine = literal_engine(delay=0.003)  # 3 ms per request, not declared slow
    gw = await make_gateway(engines=[engine], engine={"offload_after_us": 1000})
    for _ in range(8):
        async with client.get(gw.url + "/x") as resp:
            assert resp.status == 200
    metrics = gw.gateway.metrics.render().decode()
    counts = {
        where: float(m.group(1))
        if (m := re.search(rf'count{{engine="testing",where="{where}"}} (\S+)', metrics))
        else 0
        for where in ("inline", "pool")
    }
    # the moving share (weight 0.1) of calls over 1000 us passes one half after 7 inline calls
    assert counts["inline"] == 7
    assert counts["pool"] == 1


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "rule"),
    [
        ("TRACE", "/x", {}, 405, "hardening.method"),
        ("GET", "/x", {f"X-H{i}": "v" for i in range(120)}, 431, "hardening.header_count"),
    ],
)
async def test_gateway_refusals_are_reported_as_blocks_in_harness_mode(
    make_gateway, client, method, path, headers, status, rule
):
    gw = await make_gateway(mode="detect", harness=True)
    async with client.request(method, gw.url + path, headers=headers) as resp:
        assert resp.status == status
        assert resp.headers["X-Rampart-Waf"] == f"block; score=0; rules={rule}"
        assert "X-Rampart-Waf-Testing" not in resp.headers  # no engine ran
    quiet = await make_gateway(mode="detect")
    async with client.request(method, quiet.url + path, headers=headers) as resp:
        assert "X-Rampart-Waf" not in resp.headers


async def test_an_engine_that_declares_itself_fast_stays_inline(make_gateway, client):
    engine = literal_engine(delay=0.003, slow=False)
    gw = await make_gateway(engines=[engine], engine={"offload_after_us": 1000})
    for _ in range(8):
        async with client.get(gw.url + "/x") as resp:
            assert resp.status == 200
    metrics = gw.gateway.metrics.render().decode()
    assert 'rampart_gateway_engine_seconds_count{engine="testing",where="inline"} 8.0' in metrics


async def test_a_busy_unshared_engine_never_makes_the_loop_wait(make_gateway, client):
    engine = literal_engine(delay=0.3, slow=False)  # not thread-safe: calls serialise on a lock
    # no budget: the two 0.3 s calls must each run to their end, however loaded the machine
    gw = await make_gateway(engines=[engine], engine={"budget_ms": 0})

    async def post_big() -> int:
        async with client.post(gw.url + "/big", data=b"a" * 64 * 1024) as resp:
            return int(resp.status)

    big = asyncio.create_task(post_big())
    await asyncio.sleep(0.1)  # the big body is being inspected in the pool now
    async with client.get(gw.url + "/small") as resp:
        assert resp.status == 200
    assert await big == 200
    metrics = gw.gateway.metrics.render().decode()
    # run inline, the small request would have blocked the event loop on the engine's lock
    assert 'rampart_gateway_engine_seconds_count{engine="testing",where="pool"} 2.0' in metrics
