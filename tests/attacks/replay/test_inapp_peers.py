"""In-app peers: Aikido Zen protecting the ASGI lab, replayed as the ``aikido`` configuration.

The product runs for real (the ``peers`` extra is in the lock, so CI installs it); where it is
not installed the tests skip locally and fail in CI (RAMPART_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from pathlib import Path

import aiohttp
import pytest

from rampart.attacks.cases import Case
from rampart.attacks.corpus import load_cases
from rampart.attacks.replay import peers
from rampart.attacks.replay.peers import (
    BUILTIN_PEERS,
    Peer,
    in_app_peer_missing,
    peer_verdict,
    start_in_app_peer,
)
from rampart.attacks.replay.records import LayerVerdict
from rampart.attacks.replay.runner import ReplayOptions, replay
from tests.conftest import need

HAVE_AIKIDO = importlib.util.find_spec("aikido_zen") is not None


def test_the_peer_header_is_the_verdict() -> None:
    headers = {"x-rampart-peer": "block; detections=aikido:AikidoSQLInjection"}
    assert peer_verdict(403, headers) == LayerVerdict(
        decision="block", detections=("aikido:AikidoSQLInjection",)
    )
    assert peer_verdict(500, {}).decision == "allow"  # a crash is not a block


def test_a_missing_product_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(peers.IN_APP_PEERS, "aikido", "no_such_package_rampart_test")
    why = in_app_peer_missing("aikido")
    assert why is not None
    assert "'no_such_package_rampart_test' is not installed" in why
    assert "rampart[peers]" in why


async def test_a_replay_without_the_product_skips_the_peer_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(peers.IN_APP_PEERS, "aikido", "no_such_package_rampart_test")
    case = next(c for c in load_cases(include_benign=False) if c.id == "sql.l3.union-basic")
    result = await replay(
        [case],
        ReplayOptions(
            configs=("none",), out_dir=tmp_path, block=False, peers=(Peer("aikido", BUILTIN_PEERS["aikido"]),)
        ),
    )
    assert "aikido" not in result.meta["peers"]
    assert "is not installed" in result.meta["peers_skipped"]["aikido"]
    assert any(n.startswith("peer aikido did not run") for n in result.notes)


async def test_the_launcher_exits_cleanly_without_the_product() -> None:
    code = (
        "import sys; sys.modules['aikido_zen'] = None\n"
        "from rampart.labapp.peers import main\n"
        "sys.exit(main(['aikido', '--port', '0']))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 4
    assert b"pip install 'rampart[peers]'" in err
    assert b"Traceback" not in err


async def test_aikido_blocks_in_the_asgi_lab_and_stays_local(tmp_path: Path) -> None:
    need(HAVE_AIKIDO, "aikido_zen (pip install 'rampart[peers]')")
    env = {"AIKIDO_TOKEN": "not-a-real-token", "AIKIDO_TMP_DIR": str(tmp_path)}
    os.environ.update(env)
    try:
        async with start_in_app_peer("aikido", timeout=120) as url, aiohttp.ClientSession() as http:
            async with http.get(url + "/api/orders", params={"id": "3"}) as resp:
                assert resp.status == 200  # benign traffic passes
            rid = "aikido-test-0001"
            sqli = {"id": "0 UNION SELECT id, name, token FROM secrets"}
            async with http.get(url + "/api/orders", params=sqli, headers={"X-Request-ID": rid}) as resp:
                assert resp.status == 403
                assert resp.headers["X-Rampart-Peer"] == "block; detections=aikido:AikidoSQLInjection"
                assert "rmpsecret-" not in await resp.text()
            async with http.get(url + "/__lab/effects", params={"request_id": rid}) as resp:
                assert (await resp.json())["effects"] == []  # the oracle: the exploit did not work
            login = {"username": "admin", "password": {"$ne": None}}
            async with http.post(url + "/api/login", json=login) as resp:
                assert resp.status == 403  # through motor, Zen sees the lab's MongoDB queries
    finally:
        for key in env:
            os.environ.pop(key, None)
    # no token reached Zen, so it started no background process and opened no IPC socket
    assert os.listdir(tmp_path) == []


def _cases() -> list[Case]:
    by_id = {c.id: c for c in load_cases()}
    chosen = ["sql.l3.union-basic", "cmd.l5.semicolon-echo", "ssti.l11.concat"]
    benign = [c for c in by_id.values() if c.label == "benign" and c.endpoint in ("L3", "L5")][:4]
    return [by_id[i] for i in chosen if i in by_id] + benign


async def test_aikido_is_a_configuration_in_the_replay(tmp_path: Path) -> None:
    need(HAVE_AIKIDO, "aikido_zen (pip install 'rampart[peers]')")
    cases = _cases()
    assert len(cases) == 7
    result = await replay(
        cases,
        ReplayOptions(
            configs=("none",),
            out_dir=tmp_path,
            concurrency=2,
            block=False,
            peers=(Peer("aikido", BUILTIN_PEERS["aikido"]),),
        ),
    )
    assert result.meta["peers"] == {"aikido": BUILTIN_PEERS["aikido"]}
    assert result.meta["peers_skipped"] == {}
    aikido = result.results["configs"]["aikido"]
    assert aikido["peer"] is True
    assert aikido["working_exploits"]["total"] == 3
    # Zen knows SQL and shell injection; it has no template-injection protection
    assert aikido["working_exploits"]["stopped"] == 2
    assert aikido["benign"]["flagged"] == 0
    assert {r.pass_name for r in result.records} == {"detect", "peer:aikido"}


def test_aikido_is_an_optional_extra_loaded_only_by_its_launcher() -> None:
    import tomllib

    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parents[3]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {Requirement(r).name for r in project["dependencies"]}
    assert "aikido_zen" not in core  # AGPL-3.0: never a core dependency
    assert [Requirement(r).name for r in project["optional-dependencies"]["peers"]] == ["aikido_zen"]
    importers = sorted(
        str(p.relative_to(root))
        for pkg in ("rampart", "gateway", "inprocess", "labapp", "attacks", "loadtests")
        for p in (root / pkg).rglob("*.py")
        if "import aikido_zen" in p.read_text(encoding="utf-8")
        or "from aikido_zen" in p.read_text(encoding="utf-8")
    )
    assert importers == ["labapp/peers.py"]
