"""The real engines behind the proxy: the native engine, CRS as a shadow, and the lab app as
the upstream (``rampart lab`` in its own process)."""

from __future__ import annotations

import subprocess
import sys

import aiohttp
import pytest

from rampart.gateway.engines import create_engine
from rampart.gateway.model import EngineSettings
from rampart.gateway.proxy.inspection import NamedEngine
from rampart.procs import spawn
from rampart.verdicts import parse_verdict_header
from tests.gateway.proxy.upstream import SEEN

SQLI = "/api/orders?id=1%20OR%201=1"
NOSQL_LOGIN = {"username": "admin", "password": {"$ne": "x"}}


def _build(name: str, settings: EngineSettings, limit: float = 45.0) -> NamedEngine:
    """Build an engine, after checking in a child process that its rules load in time: a
    compile that never ends (C code ignores pytest-timeout) fails the test and is killed,
    instead of hanging the suite or burning a core for the rest of the session."""
    probe = (
        "import sys; from rampart.gateway.engines import create_engine; "
        "from rampart.gateway.model import EngineSettings; "
        f"create_engine({name!r}, EngineSettings(crs_dir={settings.crs_dir!r}))"
    )
    try:
        subprocess.run([sys.executable, "-c", probe], timeout=limit, check=True, capture_output=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the {name} engine did not finish loading its rules within {limit:.0f} s")
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"the {name} engine failed to load: {exc.stderr.decode(errors='replace')[-2000:]}")
    return NamedEngine(name, create_engine(name, settings))


@pytest.fixture
def native() -> NamedEngine:
    """A native engine per test (a gateway closes its engines when it stops, which empties
    the rules, so one engine cannot serve the next test); built in block mode, so a
    detect-mode gateway reports its ``block`` as ``detect``."""
    return _build("native", EngineSettings(mode="block"))


async def test_native_engine_detects_and_blocks(make_gateway, client, upstream, native):
    detect = await make_gateway(mode="detect", harness=True, engines=[native])
    block = await make_gateway(mode="block", harness=True, engines=[native])
    async with client.get(detect.url + SQLI, headers={"X-Request-ID": "nat-d"}) as resp:
        assert resp.status == 200
        verdict = parse_verdict_header(resp.headers["X-Rampart-Waf"])
        assert resp.headers["X-Rampart-Waf-Native"] == resp.headers["X-Rampart-Waf"]
    assert verdict is not None
    assert verdict.decision == "detect"
    assert verdict.rules
    async with client.get(block.url + SQLI, headers={"X-Request-ID": "nat-b"}) as resp:
        assert resp.status == 403
    async with client.get(block.url + "/api/orders?id=1") as resp:
        assert resp.status == 200
        assert resp.headers["X-Rampart-Waf"].startswith("allow;")
    assert "nat-d" in upstream.app[SEEN]
    assert "nat-b" not in upstream.app[SEEN]


@pytest.mark.system
async def test_crs_engine_blocks_where_it_asks_to_run(make_gateway, client, upstream, crs_dir):
    crs = _build("crs", EngineSettings(mode="block", crs_dir=str(crs_dir)))
    gw = await make_gateway(mode="block", harness=True, engines=[crs])
    xss = "/api/products?category=%3Cscript%3Ealert(1)%3C/script%3E"
    async with client.get(gw.url + xss, headers={"X-Request-ID": "crs-b"}) as resp:
        assert resp.status == 403
        assert resp.headers["X-Rampart-Waf-Crs"].startswith("block; ")
    for _ in range(6):
        async with client.get(gw.url + "/api/products?category=shoes") as resp:
            assert resp.status == 200
    assert "crs-b" not in upstream.app[SEEN]
    # CRS declares where it runs (``slow``): the gateway believes it, however long it takes
    where = "pool" if getattr(crs.engine, "slow", False) else "inline"
    metrics = gw.gateway.metrics.render().decode()
    assert f'rampart_gateway_engine_seconds_count{{engine="crs",where="{where}"}} 7.0' in metrics


@pytest.mark.system
async def test_crs_shadows_native_in_one_pass(make_gateway, client, crs_dir, native):
    crs = _build("crs", EngineSettings(mode="block", crs_dir=str(crs_dir)))
    gw = await make_gateway(mode="block", harness=True, engines=[native, crs])
    async with client.get(gw.url + "/api/products?category=%3Cscript%3Ealert(1)%3C/script%3E") as resp:
        headers = resp.headers
        status = resp.status
    native_verdict = parse_verdict_header(headers["X-Rampart-Waf-Native"])
    crs_verdict = parse_verdict_header(headers["X-Rampart-Waf-Crs"])
    assert native_verdict is not None
    assert crs_verdict is not None
    assert crs_verdict.decision == "block"
    assert native_verdict.decision == "block"
    assert native_verdict.rules  # the native rules are loaded, not an emptied engine
    assert headers["X-Rampart-Waf"] == headers["X-Rampart-Waf-Native"]  # native enforces
    assert status == 403


@pytest.mark.slow
async def test_lab_behind_the_gateway(make_gateway):
    """The lab as upstream, with the test engine (it flags ``$ne``), so this checks the proxy
    against the real app whatever state the rule sets are in."""
    async with spawn(["lab", "--port", "0"]) as lab:
        detect = await make_gateway(upstream_url=lab.url, mode="detect", harness=True)
        block = await make_gateway(upstream_url=lab.url, mode="block", harness=True)
        async with aiohttp.ClientSession() as session:
            # benign traffic: the same answer through the gateway as straight from the lab
            for method, path, body in [
                ("GET", "/api/products?category=books", None),
                ("GET", "/api/orders?id=2", None),
                ("GET", "/greet?name=Ada", None),
                ("POST", "/api/login", {"username": "alice", "password": "wrong"}),
            ]:
                answers = []
                for base in (lab.url, block.url):
                    async with session.request(method, base + path, json=body) as resp:
                        answers.append((resp.status, resp.headers.get("Content-Type"), await resp.read()))
                assert answers[0] == answers[1], path

            async def effects(rid: str) -> list[str]:
                async with session.get(lab.url + f"/__lab/effects?request_id={rid}") as resp:
                    return [e["kind"] for e in (await resp.json())["effects"]]

            # an attack: flagged and let through in detect mode (the exploit works) ...
            async with session.post(
                detect.url + "/api/login", json=NOSQL_LOGIN, headers={"X-Request-ID": "lab-detect"}
            ) as resp:
                assert resp.status == 200
                verdict = parse_verdict_header(resp.headers["X-Rampart-Waf"])
                assert verdict is not None
                assert verdict.decision == "detect"
            assert "auth_bypass" in await effects("lab-detect")
            # ... and stopped in block mode (the lab never runs it)
            async with session.post(
                block.url + "/api/login", json=NOSQL_LOGIN, headers={"X-Request-ID": "lab-block"}
            ) as resp:
                assert resp.status == 403
            assert await effects("lab-block") == []
