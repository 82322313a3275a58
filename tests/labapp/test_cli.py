"""``rampart lab`` as a real child process: fast start, loopback only, clean shutdown."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
import time

import aiohttp
import pytest

from rampart.procs import spawn


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_starts_serves_and_leaves_nothing_behind(tmp_path):
    env = {"TMPDIR": str(tmp_path)}
    started = time.monotonic()
    async with spawn(["lab", "--port", "0"], env=env, timeout=60) as lab:
        startup = time.monotonic() - started
        assert lab.name == "lab"
        assert lab.url.startswith("http://127.0.0.1:")
        assert any("VULNERABLE BY DESIGN" in line for line in lab.output)
        assert list(tmp_path.iterdir()), "the lab keeps its data in a temp folder"
        async with aiohttp.ClientSession() as http:
            async with http.get(lab.url + "/__lab/health") as resp:
                assert resp.status == 200
            async with http.get(lab.url + "/api/checksum", params={"file": "report.pdf"}) as resp:
                assert resp.status == 200
        pid = lab.proc.pid
        os.kill(pid, signal.SIGTERM)
        code = await asyncio.wait_for(lab.proc.wait(), 20)
        assert code == 0
        assert not _group_alive(pid), "a child process outlived the lab"
        assert list(tmp_path.iterdir()) == [], "temp folders were left behind"
    assert startup < 30


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
async def test_refuses_non_loopback_bind(host):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rampart.cli",
        "lab",
        "--port",
        "0",
        "--host",
        host,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert b"refusing to bind" in err
    assert b"--i-know-this-is-vulnerable-bind-anyway" in err
    assert b"ready:" not in out


@pytest.mark.skipif(
    importlib.util.find_spec("rampart.inprocess.frameworks.aiohttp") is None, reason="sink guard not built"
)
async def test_guard_block_stops_the_effect():
    args = ["lab", "--port", "0", "--guard", "block", "--harness"]
    async with spawn(args, timeout=60) as lab, aiohttp.ClientSession() as http:
        async with http.post(
            lab.url + "/api/login", json={"username": "alice", "password": "wonderland"}
        ) as resp:
            assert resp.status == 200
            assert resp.headers["X-Rampart-Rasp"].startswith("allow")
        headers = {"X-Request-ID": "cli-block-1"}
        body = {"username": "admin", "password": {"$ne": None}}
        async with http.post(lab.url + "/api/login", json=body, headers=headers) as resp:
            assert resp.status == 403
            assert resp.headers["X-Rampart-Rasp"].startswith("block")
        async with http.get(lab.url + "/__lab/effects", params={"request_id": "cli-block-1"}) as resp:
            assert (await resp.json())["effects"] == []


async def test_guard_unavailable_is_a_clear_error():
    code = (
        "import sys; sys.modules['rampart.inprocess.frameworks.aiohttp'] = None; "
        "from rampart.cli import main; sys.exit(main(['lab', '--port', '0', '--guard', 'detect']))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 3
    assert b"sink guard not available" in err
    assert b"ready:" not in out


@pytest.mark.parametrize(
    ("mongo", "sql", "guarded"),
    [
        (None, None, True),
        ("mongodb://127.0.0.1:27017", "postgresql://postgres@localhost/test", True),
        ("mongodb://mongo:27017", None, False),
        (None, "postgresql://postgres@db.internal/test", False),
    ],
)
def test_socket_guard_unless_a_database_is_elsewhere(mongo, sql, guarded):
    from rampart.labapp.cli import _services_on_loopback
    from rampart.labapp.settings import LabSettings

    assert _services_on_loopback(LabSettings(mongodb_url=mongo, database_url=sql)) is guarded
