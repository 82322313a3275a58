"""``rampart gateway --workers N``: real worker processes on one port, real Redis limits."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rampart.gateway.metrics import GatewayMetrics
from rampart.gateway.workers.metrics_merge import merge_expositions
from rampart.procs import ServerProcess, spawn
from tests.gateway.proxy.conftest import Upstream

pytestmark = pytest.mark.slow


def _admin(gw: ServerProcess) -> str:
    return next(line.split()[2] for line in gw.output if line.startswith("gateway admin: "))


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == name
    }


async def _fresh_get(url: str) -> tuple[int, str | None]:
    """One request on its own connection (a new source port: the kernel may pick any worker)."""
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        await resp.read()
        return resp.status, resp.headers.get("X-Rampart-Worker")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


@pytest.fixture
async def two_workers(
    upstream: Upstream, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[ServerProcess, Path, str]]:
    prefix = f"rampart:test:workers:{uuid.uuid4().hex}:"
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'mode = "detect"\n[rate_limit]\nenabled = true\nstore = "{redis_url}"\nkey_prefix = "{prefix}"\n'
        '[[rate_limit.rules]]\nname = "per-client"\nlimit = 25\nwindow = 120\n',
        encoding="utf-8",
    )
    args = [
        "gateway",
        "--upstream",
        upstream.url,
        "--port",
        "0",
        "--workers",
        "2",
        "--engine",
        "testing",
        "--harness",
        "--admin-port",
        "0",
        "--config",
        str(config),
    ]
    async with spawn(args, timeout=120) as gw:
        yield gw, config, prefix
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


async def test_two_workers_share_port_redis_limits_and_metrics(two_workers):
    gw, _, _ = two_workers
    answers = await asyncio.gather(*(_fresh_get(gw.url + f"/echo?i={i}") for i in range(40)))
    statuses = [status for status, _ in answers]
    pids = {pid for _, pid in answers if pid}
    assert len(pids) == 2, f"both workers should answer, saw {pids}"
    # one limit of 25 per client, counted in Redis by both workers together
    assert statuses.count(429) == 15
    assert statuses.count(200) == 25
    async with aiohttp.ClientSession() as session:
        async with session.get(_admin(gw) + "/healthz") as resp:
            health = await resp.json()
        async with session.get(_admin(gw) + "/metrics") as resp:
            metrics = await resp.text()
    assert health["status"] == "ok"
    assert {w["pid"] for w in health["workers"]} == {int(p) for p in pids}
    requests = _samples(metrics, "rampart_gateway_requests_total")
    assert requests[(("outcome", "forwarded"),)] == 25
    assert requests[(("outcome", "rate_limited"),)] == 15
    assert _samples(metrics, "rampart_gateway_workers")[()] == 2


async def test_sighup_reloads_config_and_sigterm_stops_every_worker(two_workers):
    gw, config, _ = two_workers
    admin = _admin(gw)
    async with aiohttp.ClientSession() as session:
        async with session.get(admin + "/healthz") as resp:
            before = await resp.json()
        assert before["mode"] == "detect"
        config.write_text(config.read_text().replace('mode = "detect"', 'mode = "block"'), encoding="utf-8")
        os.kill(gw.proc.pid, signal.SIGHUP)
        after = before
        for _ in range(150):
            await asyncio.sleep(0.2)
            async with session.get(admin + "/healthz") as resp:
                after = await resp.json()
            if after["mode"] == "block" and len(after["workers"]) == 2:
                break
        assert after["mode"] == "block"
        assert {w["generation"] for w in after["workers"]} == {2}
        old = {w["pid"] for w in before["workers"]}
        new = {w["pid"] for w in after["workers"]}
        assert not old & new
        for _ in range(50):
            if not any(_alive(p) for p in old):
                break
            await asyncio.sleep(0.2)
        assert not any(_alive(p) for p in old)
        # a broken file on the next reload keeps the running workers
        config.write_text("mode = 'sideways'\n", encoding="utf-8")
        os.kill(gw.proc.pid, signal.SIGHUP)
        await asyncio.sleep(2)
        async with session.get(admin + "/healthz") as resp:
            kept = await resp.json()
        assert {w["pid"] for w in kept["workers"]} == new
        assert any("reload_failed" in line for line in gw.output)
        status, _ = await _fresh_get(gw.url + "/echo?still=serving")
        assert status in (200, 429)
    os.kill(gw.proc.pid, signal.SIGTERM)
    assert await asyncio.wait_for(gw.proc.wait(), 30) == 0
    assert not any(_alive(p) for p in new)


def test_merge_sums_counters_and_histograms_of_real_registries():
    a, b = GatewayMetrics(), GatewayMetrics()
    a.requests.labels("forwarded").inc(3)
    b.requests.labels("forwarded").inc(4)
    b.requests.labels("blocked").inc()
    a.latency.observe(0.002)
    b.latency.observe(0.3)
    merged = merge_expositions([a.render().decode(), b.render().decode()]).decode()
    requests = _samples(merged, "rampart_gateway_requests_total")
    assert requests[(("outcome", "forwarded"),)] == 7
    assert requests[(("outcome", "blocked"),)] == 1
    assert _samples(merged, "rampart_gateway_request_seconds_count")[()] == 2
    assert _samples(merged, "rampart_gateway_request_seconds_sum")[()] == pytest.approx(0.302)
    buckets = _samples(merged, "rampart_gateway_request_seconds_bucket")
    assert buckets[(("le", "0.0025"),)] == 1
    assert buckets[(("le", "+Inf"),)] == 2
    created = _samples(merged, "rampart_gateway_requests_created")
    assert len(created) == 2


@pytest.mark.parametrize("workers", ["1", "2"])
def test_port_in_use_names_the_holder_and_exits_2(workers):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket,sys,time; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); "
            "print(s.getsockname()[1], flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        port = int(holder.stdout.readline())
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "rampart.cli",
                "gateway",
                "--upstream",
                "http://127.0.0.1:9",
                "--port",
                str(port),
                "--workers",
                workers,
                "--engine",
                "testing",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2, done.stderr
    assert re.search(
        rf"cannot listen on 127\.0\.0\.1:{port}: address already in use, held by pid "
        rf"{holder.pid} \(.*python.*\); .*--port",
        done.stderr,
    ), done.stderr
    assert "Traceback" not in done.stderr


def test_a_second_supervised_gateway_does_not_share_the_port():
    """SO_REUSEPORT would let two gateways split traffic silently: the second one refuses."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "rampart.cli",
                "gateway",
                "--upstream",
                "http://127.0.0.1:9",
                "--port",
                str(port),
                "--workers",
                "2",
                "--engine",
                "testing",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert f"pid {os.getpid()}" in done.stderr


async def test_a_worker_that_dies_is_replaced(upstream: Upstream):
    args = [
        "gateway",
        "--upstream",
        upstream.url,
        "--port",
        "0",
        "--workers",
        "2",
        "--engine",
        "testing",
        "--admin-port",
        "0",
    ]
    async with spawn(args, timeout=120) as gw, aiohttp.ClientSession() as session:
        async with session.get(_admin(gw) + "/healthz") as resp:
            before = {w["pid"] for w in (await resp.json())["workers"]}
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        after = before
        for _ in range(150):
            await asyncio.sleep(0.2)
            async with session.get(_admin(gw) + "/healthz") as resp:
                health = await resp.json()
            after = {w["pid"] for w in health["workers"]}
            if len(after) == 2 and victim not in after and health["status"] == "ok":
                break
        assert victim not in after
        assert len(after) == 2
        assert after & before == before - {victim}
        assert any("worker_exited" in line for line in gw.output)
        status, _ = await _fresh_get(gw.url + "/echo")
        assert status == 200


def test_a_worker_that_cannot_start_stops_the_gateway_with_exit_2(tmp_path: Path):
    missing = tmp_path / "no-such-rules"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rampart.cli",
            "gateway",
            "--upstream",
            "http://127.0.0.1:9",
            "--port",
            "0",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "RAMPART_GATEWAY_ENGINE__RULES_DIR": str(missing)},
    )
    assert done.returncode == 2, done.stderr
    assert "cannot start" in done.stderr
    assert "exited before it was ready" in done.stderr
    assert "Traceback" not in done.stderr
