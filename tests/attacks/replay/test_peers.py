"""Peers as configurations: a running layer by URL and the built-in nginx + ModSecurity + CRS."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from rampart.attacks.cases import Case
from rampart.attacks.corpus import load_cases
from rampart.attacks.replay.peers import BUILTIN_PEERS, Peer, peer_verdict
from rampart.attacks.replay.records import LayerVerdict
from rampart.attacks.replay.runner import ReplayOptions, parse_targets, replay
from rampart.attacks.summary import peer_records
from rampart.loadtests.nginx_peer import available
from rampart.procs import spawn
from tests.attacks.replay.factory import record
from tests.conftest import need


def test_peer_verdict_prefers_harness_headers_then_status() -> None:
    assert peer_verdict(200, {"x-rampart-waf-crs": "detect; score=5; rules=942100"}).decision == "detect"
    both = {"x-rampart-waf-native": "detect; score=5", "x-rampart-rasp": "block; detections=sql_injection"}
    assert peer_verdict(403, both).decision == "block"
    assert peer_verdict(403, {}) == LayerVerdict(decision="block", detections=("status:403",))
    assert peer_verdict(406, {}).decision == "block"
    assert peer_verdict(200, {}).decision == "allow"
    assert peer_verdict(None, {}).decision == "allow"


def test_a_status_the_bare_lab_answered_is_not_the_peers_block() -> None:
    detect = [record("a", status=403), record("b", status=200)]
    own = [
        record("a", status=403, pass_name="peer:x").model_copy(
            update={"verdicts": {"x": LayerVerdict(decision="block", detections=("status:403",))}}
        ),
        record("b", status=403, pass_name="peer:x").model_copy(
            update={"verdicts": {"x": LayerVerdict(decision="block", detections=("status:403",))}}
        ),
    ]
    seen = {r.case_id: r.verdicts["x"].decision for r in peer_records(detect, own, "x")}
    assert seen == {"a": "allow", "b": "block"}


def _cases() -> list[Case]:
    by_id = {c.id: c for c in load_cases()}
    benign = [c for c in by_id.values() if c.label == "benign" and c.endpoint == "L4" and not c.hard][:4]
    return [by_id["sql.l4.union-basic"], by_id["path.l7.dotdot"], *benign]


@pytest.fixture
async def toy_waf() -> tuple[list[str], web.Application]:
    """A perimeter of somebody else's: refuses 'UNION' with a 403 and no rampart header."""
    upstream: list[str] = []
    app = web.Application()

    async def proxy(request: web.Request) -> web.StreamResponse:
        raw = request.path_qs + (await request.text())
        if "UNION" in raw.upper().replace("%20", " "):
            return web.Response(status=403, text="blocked by the toy WAF")
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                upstream[0] + request.raw_path,
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
                data=await request.read(),
            ) as resp,
        ):
            return web.Response(status=resp.status, body=await resp.read(), content_type=resp.content_type)

    app.router.add_route("*", "/{tail:.*}", proxy)
    return upstream, app


async def test_a_peer_by_url_is_a_configuration(toy_waf, tmp_path: Path) -> None:
    upstream, app = toy_waf
    async with spawn(["lab", "--port", "0", "--guard", "detect", "--harness"]) as lab:
        upstream.append(lab.url)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            targets = parse_targets(f"lab={lab.url},toywaf=http://127.0.0.1:{server.port}")
            result = await replay(
                _cases(),
                ReplayOptions(
                    configs=("none", "rasp"),
                    out_dir=tmp_path,
                    targets=targets,
                    concurrency=2,
                    block=False,
                    peers=(Peer("toywaf", "toy WAF", targets.peers["toywaf"]),),
                ),
            )
        finally:
            await server.close()
    toy = result.results["configs"]["toywaf"]
    assert toy["peer"] is True
    assert toy["attacks"] == {"caught": 1, "total": 2}
    assert toy["working_exploits"]["total"] == 2
    assert toy["working_exploits"]["stopped"] == 1  # the UNION refused, the traversal went through
    assert toy["benign"]["flagged"] == 0
    assert result.meta["peers"] == {"toywaf": "toy WAF"}
    assert {r.pass_name for r in result.records} == {"detect", "peer:toywaf"}
    assert result.results["sources"]["rampart"]["configs"]["toywaf"]["attacks"]["caught"] == 1


async def test_nginx_crs_peer_runs_in_the_replay(tmp_path: Path) -> None:
    need(shutil.which("nginx") is not None and available(crs=True) is None, "nginx + ModSecurity + CRS")
    result = await replay(
        _cases(),
        ReplayOptions(
            configs=("none",),
            out_dir=tmp_path,
            concurrency=2,
            block=False,
            peers=(Peer("nginx+crs", BUILTIN_PEERS["nginx+crs"]),),
        ),
    )
    peer = result.results["configs"]["nginx+crs"]
    assert peer["attacks"]["total"] == 2
    assert peer["attacks"]["caught"] >= 1  # CRS 942 refuses the UNION at paranoia 1
    assert peer["stopped_from"] == "block_pass"
    assert "nginx+crs" in result.meta["peers"]
