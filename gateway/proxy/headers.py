"""Header rewriting between client, gateway and upstream.

* Hop-by-hop headers (RFC 9110 section 7.6.1): ``Connection`` and every header it names,
  ``Keep-Alive``, ``TE``, ``Trailer``, ``Transfer-Encoding``, ``Upgrade`` and any
  ``Proxy-*`` never cross the gateway, in either direction.
* ``X-Forwarded-For`` from the client is believed only when the peer is a configured trusted
  proxy; the client address is then the right-most untrusted hop.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "HOP_BY_HOP",
    "ClientAddress",
    "TrustedProxies",
    "hop_by_hop_names",
    "strip_hop_by_hop",
]

HOP_BY_HOP: frozenset[str] = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def hop_by_hop_names(headers: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Lower-case names that must not be forwarded: the fixed set plus those ``Connection`` names."""
    return _with_connection_tokens(HOP_BY_HOP, [v for k, v in headers if k.lower() == "connection"])


def _with_connection_tokens(base: frozenset[str], connection: list[str]) -> frozenset[str]:
    named = {token.strip().lower() for value in connection for token in value.split(",") if token.strip()}
    return base | named if named else base


def strip_hop_by_hop(
    headers: Iterable[tuple[str, str]], *, also: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """Headers minus hop-by-hop ones, ``Proxy-*`` and the lower-case names in ``also``
    (``also`` is expected to be fixed per caller, so the union below is the only set work
    unless the message names headers in ``Connection``)."""
    items = list(headers)
    connection = [v for k, v in items if len(k) == 10 and k.lower() == "connection"]
    drop = _with_connection_tokens(HOP_BY_HOP | also if also else HOP_BY_HOP, connection)
    return [(k, v) for k, v in items if (low := k.lower()) not in drop and not low.startswith("proxy-")]


@dataclass(frozen=True, slots=True)
class ClientAddress:
    """Who the client is, and the ``X-Forwarded-*`` values to send upstream."""

    ip: str
    forwarded_for: str
    trusted_peer: bool


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class TrustedProxies:
    """Resolves the client address from the peer and ``X-Forwarded-For``."""

    def __init__(self, networks: Sequence[str]) -> None:
        self.networks: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def trusts(self, address: str | None) -> bool:
        if not self.networks or address is None:
            return False
        ip = _ip(address)
        return ip is not None and any(ip in net for net in self.networks)

    def resolve(self, peer: str | None, forwarded_for: Sequence[str]) -> ClientAddress:
        peer_ip = peer or "0.0.0.0"  # noqa: S104 -- a placeholder for unix sockets, never bound
        if not forwarded_for or not self.trusts(peer_ip):
            return ClientAddress(peer_ip, peer_ip, False)
        hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
        client = peer_ip
        for hop in reversed(hops):
            ip = _ip(hop)
            if ip is None:
                break
            client = str(ip)
            if not any(ip in net for net in self.networks):
                break
        return ClientAddress(client, ", ".join([*hops, peer_ip]), True)
