"""``ip_match``: the value is an IP address inside one of the given networks (CIDR)."""

from __future__ import annotations

import ipaddress
from typing import Any

from rampart.gateway.engines.native.operators.registry import register

__all__ = ["IpMatch"]


class IpMatch:
    """Match when the value parses as an IPv4/IPv6 address inside one of ``argument``'s networks."""

    prefilter: tuple[str, ...] | None = None

    def __init__(self, argument: Any) -> None:
        cidrs = [argument] if isinstance(argument, str) else argument
        if not isinstance(cidrs, list) or not cidrs:
            raise ValueError("ip_match needs a CIDR string or a list of them as argument")
        try:
            self._networks = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"ip_match argument holds an invalid network: {exc}") from None

    def match(self, value: str) -> str | None:
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            return None
        return value if any(address in net for net in self._networks) else None


register("ip_match", IpMatch)
