"""SIGHUP reloads the rules of a real ``rampart gateway`` process without dropping a request,
at one worker and at two (each worker swaps its engines in place, none restarts). A changed
rule file applies after the signal, a broken one keeps the running rules and logs file, line
and fix, a request held open at the upstream across the reload completes, and requests sent
back to back on one keep-alive connection across the reload all succeed."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from rampart.procs import ServerProcess, spawn

pytestmark = [pytest.mark.slow]

RULE = """\
class: xss
id_range: [57000, 57999]
description: the team's own rules
rules:
  - id: 57001
    message: team marker
    severity: critical
    tags: [team]
    targets: [ARGS]
    operator: contains
    argument: {marker}
    examples:
      attack: ["x {marker} y"]
      benign: ["plain words"]
"""

BROKEN = RULE.replace("operator: contains", "operator: containz")


@dataclass
class HoldingUpstream:
    """An upstream whose ``/hold`` answers only when the test says so."""

    url: str
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def holding() -> AsyncIterator[HoldingUpstream]:
    state = HoldingUpstream(url="")

    async def hold(request: web.Request) -> web.Response:
        state.entered.set()
        await state.release.wait()
        return web.Response(text="held and answered")

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/hold", hold)
    app.router.add_route("*", "/{tail:.*}", echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("")).rstrip("/")
    try:
        yield state
    finally:
        state.release.set()
        await server.close()


async def _status(url: str) -> int:
    """One request on its own connection (with workers, the kernel picks any of them)."""
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        await resp.read()
        return resp.status


async def _wait_for(predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    """Poll another process's output (nothing to await) until ``predicate`` holds."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s")


async def _blocked_soon(url: str, timeout: float = 120.0) -> None:
    """Until ``url`` is refused (the new generation of workers takes over gradually)."""
    for _ in range(int(timeout / 0.1)):
        if await _status(url) == 403:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} still not blocked after {timeout} s")


@dataclass
class Traffic:
    """Requests sent back to back on one keep-alive connection until ``stop`` is set."""

    url: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    statuses: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def run(self) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
            while not self.stop.is_set():
                try:
                    async with session.get(self.url) as resp:
                        await resp.read()
                        self.statuses.append(resp.status)
                except aiohttp.ClientError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")


def _count(gw: ServerProcess, event: str) -> int:
    return sum(1 for line in gw.output if event in line)


def _gateway_args(upstream: str, rules: Path, workers: int) -> list[str]:
    return [
        "gateway",
        "--upstream",
        upstream,
        "--port",
        "0",
        "--engine",
        "native",
        "--mode",
        "block",
        "--workers",
        str(workers),
        "--rules",
        str(rules),
        "--admin-port",
        "0",
    ]


async def _worker_pids(gw: ServerProcess) -> set[int]:
    """Worker pids from the supervisor's /healthz (one worker: the gateway process itself)."""
    admin = next(line.split()[2] for line in gw.output if line.startswith("gateway admin: "))
    async with aiohttp.ClientSession() as session, session.get(admin + "/healthz") as resp:
        health = await resp.json()
    return {int(w["pid"]) for w in health.get("workers", [])} or {gw.proc.pid}


@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "two-workers"])
async def test_sighup_reloads_rules_keeps_requests_and_survives_a_broken_file(
    holding: HoldingUpstream, tmp_path: Path, workers: int
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    rule_file = rules / "team.yaml"
    rule_file.write_text(RULE.format(marker="alpha-marker"), encoding="utf-8")
    async with spawn(_gateway_args(holding.url, rules, workers), timeout=180) as gw:
        base = gw.url.rstrip("/")
        assert await _status(base + "/?q=alpha-marker") == 403
        assert await _status(base + "/?q=beta-marker") == 200
        # the shipped rules run beside the team's folder
        assert await _status(base + "/?q=%3Cscript%3Ealert(1)%3C/script%3E") == 403

        # a request in flight at the upstream while the rules change
        held = asyncio.ensure_future(_status(base + "/hold"))
        await asyncio.wait_for(holding.entered.wait(), 30)

        pids = await _worker_pids(gw)
        # a keep-alive connection in use across the reload is never dropped
        traffic = Traffic(base + "/?q=plain")
        sending = asyncio.ensure_future(traffic.run())

        rule_file.write_text(RULE.format(marker="beta-marker"), encoding="utf-8")
        os.kill(gw.proc.pid, signal.SIGHUP)
        await _blocked_soon(base + "/?q=beta-marker")
        assert not held.done()
        holding.release.set()
        assert await asyncio.wait_for(held, 30) == 200
        # at N workers, the supervisor's line comes once every worker has swapped its engines
        done = ": reloaded " if workers == 1 else "in_place=True"
        await _wait_for(lambda: _count(gw, done) >= 1)
        traffic.stop.set()
        await sending
        assert traffic.errors == []
        assert traffic.statuses
        assert set(traffic.statuses) == {200}
        # only rule files changed: the workers swapped their engines, none was restarted
        assert await _worker_pids(gw) == pids
        for _ in range(6):  # fresh connections: every worker serves the new rules only
            assert await _status(base + "/?q=alpha-marker") == 200
            assert await _status(base + "/?q=beta-marker") == 403

        # a broken rule file: the running rules stay, the error names file, line and fix
        rule_file.write_text(BROKEN.format(marker="gamma-marker"), encoding="utf-8")
        os.kill(gw.proc.pid, signal.SIGHUP)
        await _wait_for(lambda: any("reload_failed" in line for line in gw.output))
        text = "\n".join(gw.output)
        assert f"{rule_file}:5: rule 57001: " in text
        assert "unknown operator 'containz'" in text
        assert "Fix:" in text
        for _ in range(6):
            assert await _status(base + "/?q=beta-marker") == 403
            assert await _status(base + "/?q=gamma-marker") == 200
        assert gw.proc.returncode is None
        assert await _worker_pids(gw) == pids
