import ipaddress
import socket

import pytest

from rampart.labapp.sandbox.dns import LabDNS, LabResolver, NameNotFound


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("partner.lab.test", "203.0.113.10"),
        ("PARTNER.lab.test.", "203.0.113.10"),
        ("internal-api.lab.test", "10.20.0.5"),
        ("metadata.lab.test", "169.254.169.254"),
        ("localtest.lab.test", "127.0.0.1"),
        ("cdn.lab.test", "198.51.100.20"),
        ("anything.localhost", "127.0.0.1"),
        ("169.254.169.254.nip.io", "169.254.169.254"),
        ("app.10-20-0-5.sslip.io", "10.20.0.5"),
        ("2852039166", "169.254.169.254"),
    ],
)
def test_lookup(name, address):
    assert LabDNS().lookup(name) == ipaddress.ip_address(address)


@pytest.mark.parametrize("name", ["example.com", "lab.test", "partner.lab.test.evil", "x.nip.io"])
def test_unknown_names_are_nxdomain(name):
    with pytest.raises(NameNotFound) as info:
        LabDNS().lookup(name)
    assert info.value.errno == socket.EAI_NONAME


def test_rebinding_alternates_public_then_loopback():
    dns = LabDNS()
    answers = [str(dns.lookup("rebind.lab.test")) for _ in range(4)]
    assert answers == ["203.0.113.66", "127.0.0.1", "203.0.113.66", "127.0.0.1"]


async def test_resolver_answers_virtual_addresses():
    seen: list[tuple[str, object]] = []
    resolver = LabResolver(LabDNS(), lambda h, a: seen.append((h, a)))
    (result,) = await resolver.resolve("metadata.lab.test", 80)
    assert result["host"] == "169.254.169.254"
    assert result["port"] == 80
    assert result["family"] == socket.AF_INET
    (result,) = await resolver.resolve("::ffff:169.254.169.254", 80)
    assert result["family"] == socket.AF_INET6
    with pytest.raises(NameNotFound, match="not in the lab DNS"):
        await resolver.resolve("nowhere.example", 80)
    assert seen[-1] == ("nowhere.example", None)
