"""The lab's DNS: a fixed table of names, a few real-world wildcard services, rebinding.

:class:`LabResolver` plugs into aiohttp (``AbstractResolver``) and answers with the
*virtual* address a real resolver would give; the connector decides where packets go.
Unknown names fail like NXDOMAIN.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from aiohttp.abc import AbstractResolver, ResolveResult

from rampart.labapp.sandbox.addresses import IPAddress, literal_address

__all__ = ["DEFAULT_TABLE", "LabDNS", "LabResolver", "NameNotFound"]

PARTNER = "partner.lab.test"

DEFAULT_TABLE: Mapping[str, str] = MappingProxyType(
    {
        PARTNER: "203.0.113.10",
        "www.partner.lab.test": "203.0.113.10",
        "cdn.lab.test": "198.51.100.20",
        "news.lab.test": "198.51.100.30",
        "internal-api.lab.test": "10.20.0.5",
        "db.internal.lab.test": "10.20.0.7",
        "metadata.lab.test": "169.254.169.254",
        "localtest.lab.test": "127.0.0.1",
        "zero.lab.test": "0.0.0.0",
        "localhost": "127.0.0.1",
        "localtest.me": "127.0.0.1",
        "metadata.google.internal": "169.254.169.254",
    }
)
REBIND_NAME = "rebind.lab.test"
REBIND_ANSWERS = ("203.0.113.66", "127.0.0.1")
# <ip>.nip.io / <a-b-c-d>.sslip.io: public wildcard DNS that echoes the address in the name.
_WILDCARD = re.compile(
    r"^(?:.*?[.-])?(?P<ip>\d{1,3}(?P<sep>[.-])\d{1,3}(?P=sep)\d{1,3}(?P=sep)\d{1,3})\.(?:nip\.io|sslip\.io|xip\.io)$"
)


class NameNotFound(OSError):
    """NXDOMAIN: the name is not in the lab's DNS."""

    def __init__(self, host: str) -> None:
        super().__init__(socket.EAI_NONAME, f"Name or service not known: {host!r} (not in the lab DNS)")
        self.host = host


@dataclass
class LabDNS:
    """Name -> virtual address. ``rebind.lab.test`` alternates a public address and loopback."""

    table: Mapping[str, str] = DEFAULT_TABLE
    rebind_name: str = REBIND_NAME
    rebind_answers: tuple[str, ...] = REBIND_ANSWERS
    _rebind_count: int = field(default=0, repr=False)

    def lookup(self, host: str) -> IPAddress:
        """The address ``host`` resolves to; raises :class:`NameNotFound`."""
        literal = literal_address(host)
        if literal is not None:
            return literal
        name = host.lower().rstrip(".")
        if name == self.rebind_name:
            answer = self.rebind_answers[self._rebind_count % len(self.rebind_answers)]
            self._rebind_count += 1
            return ipaddress.ip_address(answer)
        if name in self.table:
            return ipaddress.ip_address(self.table[name])
        if name.endswith((".localhost", ".localtest.me")):
            return ipaddress.ip_address("127.0.0.1")
        if m := _WILDCARD.match(name):
            return ipaddress.ip_address(m.group("ip").replace("-", "."))
        raise NameNotFound(host)


class LabResolver(AbstractResolver):
    """aiohttp resolver over :class:`LabDNS`; it never touches the system resolver."""

    def __init__(self, dns: LabDNS, on_lookup: Callable[[str, IPAddress | None], None] | None = None) -> None:
        self.dns = dns
        self._on_lookup = on_lookup

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            addr = self.dns.lookup(host)
        except NameNotFound:
            if self._on_lookup is not None:
                self._on_lookup(host, None)
            raise
        if self._on_lookup is not None:
            self._on_lookup(host, addr)
        fam = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
        return [
            ResolveResult(
                hostname=host,
                host=str(addr),
                port=port,
                family=fam,
                proto=socket.IPPROTO_TCP,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None
