"""Address operators: ``ipMatch``, ``ipMatchFromFile``/``ipMatchF``, and what this engine never
does: ``rbl`` (a DNS query), ``geoLookup`` (a GeoIP database), ``inspectFile`` (running an
external program on an uploaded file).

``ipMatch``'s argument is a comma-separated list of IPv4/IPv6 addresses and CIDR networks;
the value matches when it is an address inside one of them (a value that is not an address
never matches). ``rbl`` and ``geoLookup`` never match: rampart sends no packet off the
machine, ships no GeoIP data and runs no helper programs, so the CRS rules built on them (IP
reputation) stay silent, as libmodsecurity's do when no GeoIP database is configured.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from rampart.gateway.engines.native.seclang.operators.registry import OperatorContext, OperatorMatch, register

__all__ = ["IpMatch", "NeverLooksUp", "parse_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_ANSWERS = 4096


def parse_networks(items: list[str], origin: str) -> tuple[Network, ...]:
    """The networks named by ``items``; ``ValueError`` naming ``origin`` and the bad item."""
    networks: list[Network] = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{origin}: {text!r} is not an IP address or CIDR network") from None
    if not networks:
        raise ValueError(f"{origin}: no address given")
    return tuple(networks)


@dataclass(frozen=True, slots=True)
class IpMatch:
    """The value is an address inside one of ``networks``."""

    networks: tuple[Network, ...]
    prefilter: tuple[str, ...] | None = None
    # the answer per value: the same few client addresses recur, and parsing one costs more
    # than the rest of the rule (emptied whole at _ANSWERS entries)
    _answers: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def evaluate(self, value: str) -> OperatorMatch | None:
        inside = self._answers.get(value)
        if inside is None:
            inside = self._inside(value)
            if len(self._answers) >= _ANSWERS:
                self._answers.clear()
            self._answers[value] = inside
        return OperatorMatch(value) if inside else None

    def _inside(self, value: str) -> bool:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return any(address.version == network.version and address in network for network in self.networks)


def _ip_match(argument: str, context: OperatorContext) -> IpMatch:
    return IpMatch(parse_networks(argument.split(","), "@ipMatch"))


def _ip_match_from_file(argument: str, context: OperatorContext) -> IpMatch:
    name = argument.strip()
    if not name:
        raise ValueError("@ipMatchFromFile needs a file name")
    if "://" in name:
        raise ValueError(f"@ipMatchFromFile {name!r}: only local files are read; copy it locally")
    path = Path(name) if Path(name).is_absolute() else context.base_dir / name
    try:
        lines = path.read_text(encoding="latin-1").splitlines()
    except OSError as exc:
        raise ValueError(f"@ipMatchFromFile cannot read {path}: {exc.strerror or exc}") from None
    items: list[str] = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if text:
            parse_networks([text], f"{path}:{number}")
            items.append(text)
    return IpMatch(parse_networks(items, str(path)))


@dataclass(frozen=True, slots=True)
class NeverLooksUp:
    """An operator that would need the network or external data; it never matches."""

    reason: str
    prefilter: tuple[str, ...] | None = None

    def evaluate(self, value: str) -> OperatorMatch | None:
        return None


def _rbl(argument: str, context: OperatorContext) -> NeverLooksUp:
    return NeverLooksUp("rbl would query DNS; rampart never leaves the machine")


def _geo_lookup(argument: str, context: OperatorContext) -> NeverLooksUp:
    return NeverLooksUp("geoLookup needs a GeoIP database; none is configured")


def _inspect_file(argument: str, context: OperatorContext) -> NeverLooksUp:
    return NeverLooksUp("inspectFile would run an external program")


register("ipMatch", _ip_match)
register("ipMatchFromFile", _ip_match_from_file)
register("ipMatchF", _ip_match_from_file)
register("rbl", _rbl)
register("geoLookup", _geo_lookup)
register("inspectFile", _inspect_file)
