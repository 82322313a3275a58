"""The crs engine through the real gateway in front of the real lab (both as subprocesses)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import aiohttp
import pytest

from rampart.procs import ServerProcess, spawn
from rampart.verdicts import WAF_HEADER, parse_verdict_header

pytestmark = [pytest.mark.system, pytest.mark.slow]

ATTACKS = [
    ("GET", "/api/orders/search?item=1'%20OR%20'1'='1", None),
    ("GET", "/greet?name=%3Cscript%3Ealert(1)%3C/script%3E", None),
    ("GET", "/api/checksum?file=a.txt;cat%20/etc/passwd", None),
    ("GET", "/api/files?name=../../etc/passwd", None),
    ("POST", "/api/comments", {"text": "<script>alert(document.cookie)</script>"}),
]
BENIGN = [
    ("GET", "/api/products?category=shoes", None),
    ("POST", "/api/login", {"username": "alice", "password": "not-her-password"}),
    ("POST", "/api/comments", {"text": "Comfortable shoes; I'd buy them again (size 42)."}),
]


def _built() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("rampart.gateway.cli", "rampart.labapp.cli"))


async def _call(gw: ServerProcess, method: str, target: str, body: object) -> tuple[int, dict[str, str], str]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, gw.url + target, json=body) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.text()


async def test_crs_through_the_real_gateway(crs_dir: Path) -> None:
    if not _built():
        pytest.skip("gateway or lab CLI not built yet")
    async with spawn(["lab", "--port", "0"], timeout=120) as lab:
        crs_block = ["gateway", "--upstream", lab.url, "--port", "0", "--engine", "crs", "--mode", "block"]
        async with spawn([*crs_block, "--harness"], timeout=120) as gw:
            for method, target, body in ATTACKS:
                status, headers, text = await _call(gw, method, target, body)
                assert status == 403, (target, status)
                verdict = parse_verdict_header(headers[WAF_HEADER])
                assert verdict is not None
                assert verdict.decision == "block"
                assert verdict.score >= 5
                assert "<script" not in text
            for method, target, body in BENIGN:
                status, headers, _ = await _call(gw, method, target, body)
                assert status != 403, (target, headers)
                assert headers[WAF_HEADER] == "allow; score=0; rules="


def _native_builds(seconds: float = 30.0) -> bool:
    """The native engine is written in parallel: shadow mode needs it to construct."""
    import threading

    from rampart.gateway.engines import create_engine
    from rampart.gateway.model import EngineSettings

    ok: list[bool] = []

    def build() -> None:
        try:
            create_engine("native", EngineSettings()).close()
            ok.append(True)
        except Exception:
            ok.append(False)

    worker = threading.Thread(target=build, daemon=True)
    worker.start()
    worker.join(seconds)
    return ok == [True]


async def test_shadow_mode_reports_both_engines(crs_dir: Path) -> None:
    """``--engine native,crs``: one request, both X-Rampart-Waf-Native and X-Rampart-Waf-Crs."""
    if not _built():
        pytest.skip("gateway or lab CLI not built yet")
    if not _native_builds():
        pytest.skip("the native engine does not construct (yet)")
    async with spawn(["lab", "--port", "0"], timeout=120) as lab:
        shadow = ["gateway", "--upstream", lab.url, "--port", "0", "--engine", "native,crs", "--harness"]
        async with spawn(shadow, timeout=120) as gw:
            _, headers, _ = await _call(gw, "GET", "/greet?name=%3Cscript%3Ealert(1)%3C/script%3E", None)
    native = parse_verdict_header(headers["X-Rampart-Waf-Native"])
    crs = parse_verdict_header(headers["X-Rampart-Waf-Crs"])
    assert native is not None
    assert crs is not None
    assert crs.decision in {"detect", "block"}
    assert {"941100", "941110"} <= set(crs.rules)
    assert headers[WAF_HEADER] == headers["X-Rampart-Waf-Native"]
