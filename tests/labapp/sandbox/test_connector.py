"""Pin the sandbox's use of aiohttp's private connector hooks: the resolution seen by
code that wraps ``TCPConnector._resolve_host`` is virtual, packets go to loopback only."""

from __future__ import annotations

import ipaddress
from typing import Any

import aiohttp
import pytest
from aiohttp import TCPConnector

from rampart import netguard
from rampart.labapp.canaries import LabSecrets
from rampart.labapp.effects import REQUEST_ID, EffectStore
from rampart.labapp.sandbox.session import Sandbox


@pytest.fixture
async def sandbox():
    box = await Sandbox.start(LabSecrets.generate(), EffectStore())
    yield box
    await box.stop()


@pytest.mark.parametrize(
    ("url", "address", "place", "simulator"),
    [
        ("http://partner.lab.test/about", "203.0.113.10", "public", "partner"),
        ("http://news.lab.test/", "198.51.100.30", "public", "internet"),
        ("http://169.254.169.254/latest/user-data", "169.254.169.254", "metadata", "metadata"),
        ("http://2852039166/latest/user-data", "169.254.169.254", "metadata", "metadata"),
        ("http://0xA9FEA9FE/latest/user-data", "169.254.169.254", "metadata", "metadata"),
        ("http://[::ffff:169.254.169.254]/latest/user-data", "::ffff:a9fe:a9fe", "metadata", "metadata"),
        ("http://internal-api.lab.test:8080/admin", "10.20.0.5", "private", "internal"),
        ("http://127.1/", "127.0.0.1", "loopback", "internal"),
        ("http://0.0.0.0:6379/", "0.0.0.0", "unspecified", "internal"),
        ("https://metadata.lab.test/latest/user-data", "169.254.169.254", "metadata", "metadata"),
    ],
)
async def test_attempts_are_recorded_and_land_on_loopback(sandbox, url, address, place, simulator):
    before = len(netguard.violations)
    REQUEST_ID.set("rid-1")
    async with sandbox.open_session() as session, session.get(url) as resp:
        assert resp.status == 200
        peer = resp.connection.transport.get_extra_info("peername") if resp.connection else None
    (attempt,) = sandbox.effects.outbound("rid-1")
    # compare addresses, not text: Python 3.13 prints IPv4-mapped IPv6 as ::ffff:169.254.169.254
    assert ipaddress.ip_address(attempt["address"]) == ipaddress.ip_address(address)
    assert (attempt["place"], attempt["simulator"]) == (place, simulator)
    kinds = [e.kind for e in sandbox.effects.effects("rid-1")]
    assert kinds == ([] if place == "public" else ["internal_contact"])
    if peer is not None:
        assert peer[0] == "127.0.0.1"
    assert netguard.violations[before:] == []


async def test_resolve_host_wrappers_see_the_virtual_address(sandbox, monkeypatch):
    """A guard wrapping ``TCPConnector._resolve_host`` (class attribute) sees canonical hosts
    and virtual answers -- never the loopback simulator."""
    seen: list[tuple[str, list[str]]] = []
    original = TCPConnector._resolve_host

    async def spy(self: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        results = await original(self, host, port, *args, **kwargs)
        seen.append((host, [r["host"] for r in results]))
        return results

    monkeypatch.setattr(TCPConnector, "_resolve_host", spy)
    async with sandbox.open_session() as session:
        for url in ("http://2852039166/", "http://metadata.lab.test/", "http://0x7f.1/"):
            async with session.get(url) as resp:
                await resp.read()
    assert seen == [
        ("169.254.169.254", ["169.254.169.254"]),
        ("metadata.lab.test", ["169.254.169.254"]),
        ("127.0.0.1", ["127.0.0.1"]),
    ]


async def test_redirects_and_rebinding_are_recorded_per_hop(sandbox):
    REQUEST_ID.set("rid-redirect")
    async with sandbox.open_session() as session:
        url = "http://partner.lab.test/redirect?to=http://metadata.lab.test/latest/user-data"
        async with session.get(url) as resp:
            assert sandbox.simulators
            assert "LAB_API_KEY" in await resp.text()
        REQUEST_ID.set("rid-rebind")
        for _ in range(2):
            async with session.get("http://rebind.lab.test/") as resp:
                await resp.read()
    assert [a["place"] for a in sandbox.effects.outbound("rid-redirect")] == ["public", "metadata"]
    assert [a["address"] for a in sandbox.effects.outbound("rid-rebind")] == ["203.0.113.66", "127.0.0.1"]


async def test_unknown_name_fails_like_nxdomain(sandbox):
    REQUEST_ID.set("rid-nx")
    async with sandbox.open_session() as session:
        with pytest.raises(aiohttp.ClientConnectorDNSError):
            await session.get("http://unknown.example/")
    assert sandbox.effects.outbound("rid-nx") == [
        {"host": "unknown.example", "address": None, "error": "nxdomain"}
    ]
    assert sandbox.effects.effects("rid-nx") == []
