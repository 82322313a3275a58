"""The mitmproxy addon: pure option parsing, and the addon inside a real ``mitmdump``."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from rampart.gateway.mitm.addon import engine_header, parse_options
from rampart.incidents import read_incidents
from rampart.procs import ServerProcess, spawn
from rampart.verdicts import WAF_HEADER, parse_verdict_header

ROOT = Path(__file__).resolve().parents[3]
ADDON = ROOT / "gateway" / "mitm" / "addon.py"
MITMDUMP = Path(sys.executable).parent / "mitmdump"
XSS = "/greet?name=%3Cscript%3Ealert(1)%3C/script%3E"


def native_engine_works() -> bool:
    """The native engine is written in parallel; the shadow test needs it to construct."""
    from rampart.gateway.engines import create_engine
    from rampart.gateway.model import EngineSettings

    if importlib.util.find_spec("rampart.gateway.engines.native.engine") is None:
        return False
    try:
        create_engine("native", EngineSettings()).close()
    except Exception:
        return False
    return True


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"engine": "", "mode": "block"}, "rampart_engine is empty"),
        ({"engine": "nosuch", "mode": "block"}, "unknown engine 'nosuch'"),
        ({"engine": "crs,crs", "mode": "block"}, "lists an engine twice"),
        ({"engine": "crs", "mode": "enforce"}, "rampart_mode must be one of detect, block"),
        ({"engine": "crs", "mode": "block", "paranoia": 0}, "rampart_paranoia must be 1..4"),
        ({"engine": "crs", "mode": "block", "threshold": 0}, "rampart_threshold must be at least 1"),
        ({"engine": "crs", "mode": "block", "body_limit": -1}, "rampart_body_limit must not be negative"),
    ],
)
def test_parse_options_rejects_with_the_option_named(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_options(**kwargs)  # type: ignore[arg-type]


def test_parse_options_builds_engine_settings() -> None:
    spec = parse_options(
        engine=" native , crs ",
        mode="block",
        paranoia=2,
        threshold=7,
        audit_log="",
        harness=True,
        crs_dir="/x",
    )
    assert spec.engines == ("native", "crs")
    assert (spec.settings.mode, spec.settings.paranoia, spec.settings.threshold) == ("block", 2, 7)
    assert spec.settings.crs_dir == "/x"
    assert spec.audit_log is None
    assert spec.harness is True


@pytest.mark.parametrize(
    ("name", "header"), [("crs", "X-Rampart-Waf-Crs"), ("native", "X-Rampart-Waf-Native")]
)
def test_engine_header(name: str, header: str) -> None:
    assert engine_header(name) == header


# -- a real mitmdump on loopback -----------------------------------------------------------


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[TestServer, list[dict[str, str]]]]:
    """A tiny app that records what reached it."""
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.text()
        seen.append({"path": request.path_qs, "rid": request.headers.get("X-Request-ID", ""), "body": body})
        return web.json_response(
            {"ok": True, "path": request.path}, headers={WAF_HEADER: "allow; score=0; rules="}
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server, seen
    finally:
        await server.close()


def _mitm_args(upstream_url: str, *settings: str) -> list[str]:
    args = [str(MITMDUMP), "-q", "-s", str(ADDON), "--mode", f"reverse:{upstream_url}"]
    args += ["--listen-host", "127.0.0.1", "--listen-port", "0"]
    for setting in settings:
        args += ["--set", setting]
    return args


async def _get(proxy: ServerProcess, target: str, **headers: str) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session, session.get(proxy.url + target, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.text()


pytestmark = [pytest.mark.system]


async def test_blocks_an_attack_inside_real_mitmdump(crs_dir: Path, upstream, tmp_path: Path) -> None:
    server, seen = upstream
    audit = tmp_path / "incidents.jsonl"
    args = _mitm_args(
        str(server.make_url("")).rstrip("/"),
        "rampart_engine=crs",
        "rampart_mode=block",
        "rampart_harness=true",
        f"rampart_crs_dir={crs_dir}",
        f"rampart_audit_log={audit}",
    )
    async with spawn(args, timeout=60) as proxy:
        assert proxy.name == "mitmproxy"
        status, headers, body = await _get(
            proxy, XSS, Accept="application/json", **{"X-Request-ID": "rid-attack-1"}
        )
        assert status == 403
        assert json.loads(body) == {
            "status": 403,
            "error": "Forbidden",
            "message": "The request was blocked.",
            "incident": "rid-attack-1",
        }
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "941" not in body
        assert "script" not in body
        verdict = parse_verdict_header(headers[WAF_HEADER])
        assert verdict is not None
        assert verdict.decision == "block"
        assert verdict.score >= 5
        assert headers["X-Rampart-Waf-Crs"] == headers[WAF_HEADER]

        status, headers, body = await _get(proxy, "/api/products?category=shoes")
        assert status == 200
        assert json.loads(body)["ok"] is True
        assert headers[WAF_HEADER] == "allow; score=0; rules="
        assert headers["X-Request-ID"] == seen[-1]["rid"] != ""

    assert [s["path"] for s in seen] == ["/api/products?category=shoes"]  # the attack never reached it
    incidents = read_incidents(audit)
    assert incidents
    assert {(i.layer, i.engine, i.action, i.request_id) for i in incidents} == {
        ("waf", "crs", "block", "rid-attack-1")
    }
    assert "xss" in {i.attack_class for i in incidents}


async def test_detect_mode_forwards_and_flags(crs_dir: Path, upstream) -> None:
    server, seen = upstream
    args = _mitm_args(
        str(server.make_url("")).rstrip("/"),
        "rampart_engine=crs",
        "rampart_mode=detect",
        "rampart_harness=true",
        f"rampart_crs_dir={crs_dir}",
    )
    async with spawn(args, timeout=60) as proxy:
        status, headers, _ = await _get(proxy, XSS)
    assert status == 200
    assert seen
    assert seen[-1]["path"].startswith("/greet")
    crs = parse_verdict_header(headers["X-Rampart-Waf-Crs"])
    assert crs is not None
    assert crs.decision == "detect"
    assert crs.score >= 5


async def test_shadow_engines_each_get_a_header(crs_dir: Path, upstream) -> None:
    """``native,crs``: native enforces (block), crs shadows; both verdicts are reported."""
    if not native_engine_works():
        pytest.skip("the native engine does not construct yet (written in parallel)")
    server, _seen = upstream
    args = _mitm_args(
        str(server.make_url("")).rstrip("/"),
        "rampart_engine=native,crs",
        "rampart_mode=block",
        "rampart_harness=true",
        f"rampart_crs_dir={crs_dir}",
    )
    async with spawn(args, timeout=60) as proxy:
        status, headers, _ = await _get(proxy, "/api/products?category=shoes")
    assert status == 200
    assert parse_verdict_header(headers["X-Rampart-Waf-Native"]) is not None
    assert parse_verdict_header(headers["X-Rampart-Waf-Crs"]) == parse_verdict_header(
        "allow; score=0; rules="
    )
    assert headers[WAF_HEADER] == headers["X-Rampart-Waf-Native"]


async def test_no_verdict_headers_outside_harness_mode(crs_dir: Path, upstream) -> None:
    """Not even the upstream's own X-Rampart-Waf header leaks through."""
    server, _ = upstream
    args = _mitm_args(
        str(server.make_url("")).rstrip("/"), "rampart_engine=crs", f"rampart_crs_dir={crs_dir}"
    )
    async with spawn(args, timeout=60) as proxy:
        status, headers, _ = await _get(proxy, "/api/products?category=shoes")
    assert status == 200
    assert not [h for h in headers if h.lower().startswith("x-rampart-waf")]


async def test_bad_option_stops_mitmdump_with_a_clear_error(upstream) -> None:
    server, _ = upstream
    args = _mitm_args(str(server.make_url("")).rstrip("/"), "rampart_engine=crs", "rampart_mode=enforce")
    with pytest.raises(RuntimeError, match="rampart_mode must be one of"):
        async with spawn(args, timeout=60):
            pass
