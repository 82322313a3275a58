"""Header rewriting rules as tables: hop-by-hop removal and client address resolution."""

from __future__ import annotations

import asyncio

import pytest

from rampart.gateway.audit import AuditLog
from rampart.gateway.proxy.headers import TrustedProxies, hop_by_hop_names, strip_hop_by_hop
from rampart.incidents import Incident, IncidentWriter


@pytest.mark.parametrize(
    ("headers", "kept"),
    [
        ([("Connection", "close"), ("Host", "h")], ["Host"]),
        ([("Connection", "X-A, x-b"), ("X-A", "1"), ("X-B", "2"), ("X-C", "3")], ["X-C"]),
        ([("connection", "Keep-Alive"), ("keep-alive", "timeout=5"), ("Accept", "*/*")], ["Accept"]),
        ([("TE", "trailers"), ("Trailer", "X"), ("Transfer-Encoding", "chunked"), ("Upgrade", "h2c")], []),
        (
            [("Proxy-Authorization", "Basic x"), ("Proxy-Connection", "keep-alive"), ("Proxyish", "1")],
            ["Proxyish"],
        ),
        ([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")], ["Set-Cookie", "Set-Cookie"]),
    ],
)
def test_strip_hop_by_hop(headers, kept):
    assert [k for k, _ in strip_hop_by_hop(headers)] == kept


def test_connection_tokens_are_named_in_lower_case():
    assert {"x-a", "x-b", "connection"} <= hop_by_hop_names([("Connection", " X-A ,X-B,, ")])


@pytest.mark.parametrize(
    ("trusted", "peer", "xff", "client", "chain"),
    [
        ((), "10.0.0.1", ["1.1.1.1"], "10.0.0.1", "10.0.0.1"),
        (("10.0.0.0/8",), "10.0.0.1", [], "10.0.0.1", "10.0.0.1"),
        (("10.0.0.0/8",), "10.0.0.1", ["1.1.1.1"], "1.1.1.1", "1.1.1.1, 10.0.0.1"),
        (
            ("10.0.0.0/8",),
            "10.0.0.1",
            ["6.6.6.6, 1.1.1.1", "10.0.0.9"],
            "1.1.1.1",
            "6.6.6.6, 1.1.1.1, 10.0.0.9, 10.0.0.1",
        ),
        (("10.0.0.0/8",), "192.0.2.1", ["1.1.1.1"], "192.0.2.1", "192.0.2.1"),
        (("10.0.0.0/8",), "10.0.0.1", ["not-an-ip"], "10.0.0.1", "not-an-ip, 10.0.0.1"),
        (("::1",), "::1", ["[2001:db8::1]"], "2001:db8::1", "[2001:db8::1], ::1"),
        (("10.0.0.0/8",), "10.0.0.1", ["10.0.0.2, 10.0.0.3"], "10.0.0.2", "10.0.0.2, 10.0.0.3, 10.0.0.1"),
    ],
)
def test_client_address_resolution(trusted, peer, xff, client, chain):
    resolved = TrustedProxies(trusted).resolve(peer, xff)
    assert (resolved.ip, resolved.forwarded_for) == (client, chain)


async def test_audit_queue_drops_instead_of_blocking(tmp_path):
    dropped: list[int] = []
    audit = AuditLog(IncidentWriter(tmp_path / "a.jsonl"), queue_size=2, on_dropped=dropped.append)
    incident = Incident.create(
        request_id="r", layer="waf", engine="e", rule="1", attack_class="xss", action="detect", confidence=0.5
    )
    audit.submit([incident] * 5)
    assert dropped == [3]
    audit.start()
    await asyncio.wait_for(audit.flush(), 5)
    await audit.close()
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 2
