"""IP literals as a real network stack reads them, and what kind of place an address is.

``socket.inet_aton`` accepts the legacy BSD forms a URL parser may let through: decimal
``2852039166``, octal ``0251.0376.0251.0376``, hex ``0xA9FEA9FE``, short ``127.1``. The
sandbox interprets them exactly that way so an SSRF bypass that would work on a real host
also works against the lab.
"""

from __future__ import annotations

import ipaddress
import socket
from enum import StrEnum

__all__ = ["Place", "classify", "literal_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints that are not link-local (Alibaba, AWS IPv6).
_METADATA = frozenset({ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")})
# The documentation ranges stand for the public internet inside the lab.
_LAB_PUBLIC = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


class Place(StrEnum):
    """Where a destination address sits. Everything but ``public`` is internal."""

    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link_local"
    METADATA = "metadata"
    UNSPECIFIED = "unspecified"

    @property
    def internal(self) -> bool:
        return self is not Place.PUBLIC


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` denotes when it is an IP literal in any notation, else ``None``."""
    text = host.strip().strip("[]")
    if not text:
        return None
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.split("%", 1)[0])
        except ValueError:
            return None
    if not all(c.isalnum() or c == "." for c in text):
        return None
    try:
        packed = socket.inet_aton(text)
    except OSError:
        return None
    return ipaddress.IPv4Address(packed)


def classify(addr: IPAddress) -> Place:
    """The kind of place ``addr`` is (IPv4-mapped IPv6 is judged by its IPv4 address)."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr in _METADATA or addr == ipaddress.IPv4Address("169.254.169.254"):
        return Place.METADATA
    if any(addr in net for net in _LAB_PUBLIC):
        return Place.PUBLIC
    if addr.is_unspecified:
        return Place.UNSPECIFIED
    if addr.is_loopback:
        return Place.LOOPBACK
    if addr.is_link_local:
        return Place.LINK_LOCAL
    if addr.is_private or not addr.is_global:
        return Place.PRIVATE
    return Place.PUBLIC
