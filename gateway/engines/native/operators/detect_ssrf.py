"""``detect_ssrf``: URLs whose host is a loopback, private, link-local or metadata destination.

Every ``//authority`` in the value is checked (so URLs nested in redirector parameters count),
every ``@``-separated part of the authority too (userinfo confusion). Hosts are read in every
notation a resolver accepts: dotted, decimal (``2130706433``), hex (``0x7f000001``), octal
(``0177.0.0.1``), short (``127.1``), bracketed IPv6 and IPv4-mapped IPv6 (``[::ffff:127.0.0.1]``).
Internal names (``localhost``, ``*.internal``, ``metadata.*``, wildcard-DNS services that
resolve to loopback) count as internal.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from rampart.gateway.engines.native.operators.registry import register

__all__ = ["SsrfDetector", "find_ssrf", "internal_host"]

_AUTHORITY_END = frozenset("/?#\\ \t\r\n\"'<>`")
_INTERNAL_SUFFIXES = (
    ".localhost",
    ".local",
    ".internal",
    ".intranet",
    ".lan",
    ".corp",
    ".home.arpa",
    ".svc",
    ".cluster.local",
    ".nip.io",
    ".sslip.io",
    ".xip.io",
    ".localtest.me",
    ".lvh.me",
    ".vcap.me",
    ".localdomain",
)
_INTERNAL_NAMES = frozenset(
    {
        "localhost",
        "localtest.me",
        "lvh.me",
        "vcap.me",
        "metadata",
        "instance-data",
        "kubernetes",
        "ip6-localhost",
        "ip6-loopback",
        "localhost.localdomain",
    }
)
_INTERNAL_LABELS = (
    "internal",
    "intranet",
    "metadata",
    "localhost",
    "private",
    "admin-internal",
    "kubernetes",
)


def _ipv4_any_notation(host: str) -> ipaddress.IPv4Address | None:
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or any(p == "" for p in parts):
        return None
    numbers: list[int] = []
    for part in parts:
        try:
            if part.lower().startswith("0x"):
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            else:
                numbers.append(int(part, 10))
        except ValueError:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for n in head:
        value = value << 8 | n
    value = value << (8 * (4 - len(head))) | last
    return ipaddress.IPv4Address(value)


def _internal_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return _internal_address(mapped)
        if address.packed[:12] == bytes(12) and int(address) > 1:
            return _internal_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_reserved
        or address.is_site_local
        if isinstance(address, ipaddress.IPv6Address)
        else address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_reserved
        or address in _CGNAT
    )


_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


def internal_host(host: str) -> bool:
    """Whether ``host`` (no port, no userinfo) names an internal destination."""
    host = host.strip().lower().rstrip(".")
    if not host:
        return False
    if host.startswith("["):
        inner = host[1:].split("]", 1)[0].split("%", 1)[0]
        try:
            return _internal_address(ipaddress.IPv6Address(inner))
        except ValueError:
            return False
    v4 = _ipv4_any_notation(host)
    if v4 is not None:
        return _internal_address(v4)
    if host in _INTERNAL_NAMES or host.endswith(_INTERNAL_SUFFIXES):
        return True
    first = host.split(".", 1)[0]
    return any(first == label or first.startswith(label + "-") for label in _INTERNAL_LABELS)


def _hosts(authority: str) -> list[str]:
    hosts: list[str] = []
    for part in authority.split("@"):
        if part.startswith("["):
            hosts.append(part.split("]", 1)[0] + "]")
            continue
        head, sep, port = part.rpartition(":")
        hosts.append(head if sep and (port.isdigit() or not port) else part)
    return hosts


def find_ssrf(text: str) -> str | None:
    """The first URL in ``text`` that points at an internal destination, or None."""
    i = text.find("//")
    while i != -1:
        j = i + 2
        while j < len(text) and text[j] not in _AUTHORITY_END:
            j += 1
        authority = text[i + 2 : j]
        if authority and any(internal_host(h) for h in _hosts(authority)):
            k = i
            while k > 0 and (text[k - 1].isalnum() or text[k - 1] in "+.-:"):
                k -= 1
            return text[k:j]
        i = text.find("//", i + 2)
    return None


class SsrfDetector:
    """Operator wrapper around :func:`find_ssrf`; runs only where ``//`` occurs."""

    prefilter: tuple[str, ...] | None = ("//",)

    def __init__(self, argument: Any = None) -> None:
        if argument not in (None, "", {}):
            raise ValueError("detect_ssrf takes no argument")

    def match(self, value: str) -> str | None:
        return find_ssrf(value)


register("detect_ssrf", SsrfDetector)
