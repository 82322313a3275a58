"""SSRF judged at name resolution, client by client, against a loopback simulator: names
come from a hosts table installed below the guard (no DNS), the request context survives the
resolver threads, and a redirect from an allowed host to an internal one is refused."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
import urllib3

from benchmarks.peer_serve import PARTNER_PAGE, SECRET, Simulator, start_simulator
from benchmarks.peer_sinks import install_hosts
from rampart.inprocess.context import bind
from rampart.inprocess.errors import Blocked

from ..conftest import request_ctx

pytestmark = pytest.mark.timeout(60)
ALLOW = {"ssrf": {"options": {"allow_hosts": ["partner.lab.test"]}}}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    names = ("partner.lab.test", "admin.lab.test", "0x7f.1")
    restore = install_hosts(dict.fromkeys(names, "127.0.0.1"))
    simulator = start_simulator()
    yield simulator
    simulator.stop()
    restore()


def _url(sim: Simulator, host: str, path: str = "/admin") -> str:
    return f"http://{host}:{sim.port}{path}"


def test_urllib_numeric_and_hosts_file_names(make_guard, sim: Simulator) -> None:
    make_guard("block", detectors=ALLOW)
    for host in ("0x7f.1", "ADMIN.lab.test"):
        url = _url(sim, host)
        with bind(request_ctx(url=url)), pytest.raises(Blocked):
            urllib.request.urlopen(url, timeout=5)
    assert "/admin" not in sim.hits


def test_urllib_redirect_from_allowed_host(make_guard, sim: Simulator) -> None:
    make_guard("block", detectors=ALLOW)
    sim.bounce_to[:] = [_url(sim, "admin.lab.test")]
    url = _url(sim, "partner.lab.test", "/bounce")
    with bind(request_ctx(url=url)), pytest.raises(Blocked):
        urllib.request.urlopen(url, timeout=5)
    with bind(request_ctx(url=_url(sim, "partner.lab.test", "/ok"))):
        with urllib.request.urlopen(_url(sim, "partner.lab.test", "/ok"), timeout=5) as resp:
            assert resp.read().decode() == PARTNER_PAGE
    assert sim.hits.count("/admin") == 0


def test_urllib3_pool_manager_follows_and_is_refused(make_guard, sim: Simulator) -> None:
    make_guard("block", detectors=ALLOW)
    sim.bounce_to[:] = [_url(sim, "localhost")]
    url = _url(sim, "partner.lab.test", "/bounce")
    with urllib3.PoolManager() as pool, bind(request_ctx(url=url)), pytest.raises(Blocked):
        pool.request("GET", url, redirect=True)


async def test_httpx_async_resolves_in_a_thread_with_the_context(make_guard, sim: Simulator) -> None:
    make_guard("block", detectors=ALLOW)
    url = _url(sim, "admin.lab.test")
    async with httpx.AsyncClient(follow_redirects=True) as client:
        with bind(request_ctx(url=url)), pytest.raises(Blocked):
            await client.get(url)
        ok = _url(sim, "partner.lab.test", "/ok")
        with bind(request_ctx(url=ok)):
            assert (await client.get(ok)).text == PARTNER_PAGE


async def test_aiohttp_redirect_from_allowed_host(make_guard, sim: Simulator) -> None:
    make_guard("block", detectors=ALLOW)
    sim.bounce_to[:] = [_url(sim, "LOCALHOST")]
    url = _url(sim, "partner.lab.test", "/bounce")
    async with aiohttp.ClientSession() as session:
        with bind(request_ctx(url=url)), pytest.raises(Blocked):
            await session.get(url)
    assert "/admin" not in sim.hits


def test_app_chosen_internal_call_passes(make_guard, sim: Simulator) -> None:
    make_guard("block", detectors=ALLOW)
    with bind(request_ctx(q="shoes")):
        assert httpx.get(_url(sim, "localhost")).text == SECRET


def test_resolution_outside_a_request_only_checks_metadata(make_guard, sim: Simulator) -> None:
    make_guard("block")
    assert asyncio.run(_fetch(_url(sim, "admin.lab.test"))) == SECRET


async def _fetch(url: str) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(url)).text


def _holds_block(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_holds_block(e) for e in exc.exceptions)
    return isinstance(exc, Blocked)


def test_uvloop_resolution_and_ip_literals_are_judged(make_guard, sim: Simulator) -> None:
    """uvloop resolves and connects in C, past ``socket.getaddrinfo`` and the ``socket.connect``
    audit event; its loop methods are judged instead (names the system resolver knows only:
    uvloop does not read the hosts table above)."""
    uvloop = pytest.importorskip("uvloop")
    make_guard("block", detectors=ALLOW)

    async def fetch(url: str) -> str:
        async with httpx.AsyncClient() as client:
            with bind(request_ctx(url=url)):
                return (await client.get(url)).text

    for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):
        with pytest.raises((Blocked, ExceptionGroup)) as info:  # anyio may wrap it in a group
            uvloop.run(fetch(_url(sim, host)))
        assert _holds_block(info.value), host
    assert "/admin" not in sim.hits

    async def allowed() -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(_url(sim, "127.0.0.1", "/ok"))).text

    assert uvloop.run(allowed()) == PARTNER_PAGE  # no user input names it: not judged as SSRF
