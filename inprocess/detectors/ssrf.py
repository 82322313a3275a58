"""SSRF: an outbound request to the metadata service, or to an internal host a user chose.

- Sink-only, always: the destination (the resolved address, or an IP-literal host) is a
  cloud metadata endpoint, or the host is a well-known metadata name.
- With user input: the URL's host came from user input and the destination is internal
  (loopback, private, link-local, unique-local, unspecified, CGNAT, and the IPv4-mapped,
  -compatible, 6to4 and NAT64 forms of those), or the host is an IPv4 literal in an odd
  notation (decimal, octal, hex, short form), or the scheme is not http(s).
- A redirect chain (``origin``: the first URL of the client call) whose first URL a user
  chose: every later hop that resolves to an internal address is refused, even when no
  input names that hop's host.

"Came from user input" compares hosts in canonical form (percent-decoded, NFKC-folded,
lower-case, IDNA-decoded, trailing dots dropped, IP literals as the address they denote)
against the hosts of URL-looking inputs, and literally against every other input.
``allow_hosts`` (names, ``*.suffix`` patterns, addresses or networks) lists internal
destinations an application legitimately calls: a destination on it is never reported.

IP literals are parsed the way the socket stack parses them: IPv4 with ``inet_aton``
semantics (``127.1``, ``0x7f.0.0.1``, ``2130706433``, ``017700000001``), IPv6 with
:mod:`ipaddress`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors import Detection, register
from rampart.inprocess.detectors._common import Reporter

__all__ = [
    "Allowed",
    "Destination",
    "Finding",
    "allowed",
    "canonical_host",
    "classify",
    "destination",
    "detect",
    "parse_ip",
]

_report = Reporter("ssrf", "ssrf")

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_IPS: frozenset[IP] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS / time
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "168.63.129.16",  # Azure wire server
    )
)
METADATA_NAMES = frozenset(
    {
        "metadata.google.internal",
        "metadata",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_INTERNAL_V4 = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "255.255.255.255/32",
    )
)
_INTERNAL_V6 = tuple(
    ipaddress.ip_network(n) for n in ("::1/128", "::/128", "fe80::/10", "fc00::/7", "fec0::/10")
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_LOCAL_NAMES = re.compile(r"(^|\.)(localhost|localdomain|local|internal|intranet|corp|home\.arpa)$")
_SPECIAL_SCHEME = re.compile(r"(?i)(https?|wss?|ftp)\s*:[/\\]*")
_WEB_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_DOTTED_QUAD = re.compile(r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")


def parse_ip(host: str) -> IP | None:
    """The address an IP-literal ``host`` denotes to the socket stack, else None."""
    host = host.strip().rstrip(".").split("%", 1)[0]
    if not host:
        return None
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return None
    if not re.fullmatch(r"[0-9a-fA-FxX.]+", host) or not host[0].isdigit():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible ::a.b.c.d (deprecated)
        return ipaddress.IPv4Address(int(ip))
    return None


def classify(ip: IP) -> str | None:
    """``"metadata"``, ``"internal"`` or None (a public destination)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return classify(inner)
    if ip in METADATA_IPS:
        return "metadata"
    if isinstance(ip, ipaddress.IPv4Address):
        return "internal" if any(ip in net for net in _INTERNAL_V4) else None
    return "internal" if any(ip in net for net in _INTERNAL_V6) else None


def _split(url: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return None
    return parts.scheme.lower(), unquote(host).lower()


def _hosts_of(url: str) -> list[tuple[str, str]]:
    """``(scheme, host)`` as the two parser families see it: ``urllib``/yarl-style, and
    WHATWG-style (for special schemes any run of ``/`` and ``\\`` after the colon starts
    the authority and ``\\`` is a path separator). Parser confusion payloads such as
    ``http://good\\@127.0.0.1/`` name different hosts to the two; both are judged."""
    url = url.strip()
    found = []
    raw = _split(url)
    if raw is not None:
        found.append(raw)
    special = _SPECIAL_SCHEME.match(url)
    if special is not None:
        whatwg = _split(f"{special.group(1)}://" + url[special.end() :].replace("\\", "/"))
        if whatwg is not None and whatwg not in found:
            found.append(whatwg)
    return found or [("", "")]


def canonical_host(host: str) -> str:
    """``host`` as the resolver sees it: percent-decoded, NFKC-folded, lower-case, IDNA
    labels decoded, trailing dots dropped, IP literals as the address they denote."""
    text = unicodedata.normalize("NFKC", unquote(host)).strip().strip("[]").lower().rstrip(".")
    ip = parse_ip(text)
    if ip is not None:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ip)
    if "xn--" in text:
        with contextlib.suppress(UnicodeError):
            text = text.encode("ascii").decode("idna").lower()
    return text


@lru_cache(maxsize=4096)
def _input_hosts(text: str) -> frozenset[str]:
    """Canonical hosts a URL-looking input names (empty for other inputs)."""
    if "//" not in text and "\\" not in text:
        return frozenset()
    folded = unicodedata.normalize("NFKC", unquote(text)) if "%" in text or not text.isascii() else text
    return frozenset(canonical_host(host) for _, host in _hosts_of(folded) if host)


def _from_input(url: str, scheme: str, host: str, inputs: Sequence[UserInput]) -> UserInput | None:
    """The input that names the URL's host as a whole label sequence (literally or in any
    spelling of a URL host), or, for host-less URLs such as ``file:///``, its scheme."""
    if host:
        needle = re.compile(rf"(?<![a-z0-9.-]){re.escape(host)}(?![a-z0-9-]|\.[a-z0-9])")
        wanted = canonical_host(host)
    else:
        needle = re.compile(rf"(?<![a-z0-9+.-]){re.escape(scheme)}:")
        wanted = ""
    for item in inputs:
        value = item.value
        if type(value) is not str or len(value) < 2:
            continue
        text = value.lower()
        if needle.search(text) or ("%" in text and needle.search(unquote(text))):
            return item
        if wanted and wanted in _input_hosts(text):
            return item
    return None


@dataclass(frozen=True, slots=True)
class Finding:
    """Why a URL would be SSRF if a user chose ``host`` (or, host-less, ``scheme``)."""

    confidence: float
    reason: str
    scheme: str
    host: str


@dataclass(frozen=True, slots=True)
class Destination:
    """What a URL (plus the address it resolved to) points at; pure function of both."""

    metadata: tuple[str, str] | None  # (scheme, host) that reaches a metadata endpoint
    findings: tuple[Finding, ...]  # what makes it SSRF when a user chose the host


def _judge_host(scheme: str, host: str, resolved: IP | None) -> tuple[bool, list[Finding]]:
    bare = host.rstrip(".")
    literal = parse_ip(host) if host else None
    kinds = {ip: classify(ip) for ip in (literal, resolved) if ip is not None}
    metadata = "metadata" in kinds.values() or bare in METADATA_NAMES
    findings: list[Finding] = []
    if scheme and scheme not in _WEB_SCHEMES:
        findings.append(Finding(0.9, f"user-chosen {scheme}: URL", scheme, host))
    for ip, kind in kinds.items():
        if kind == "internal":
            where = "host" if ip is literal else "resolved address"
            reason = f"user-chosen URL reaches an internal address ({where} {ip})"
            findings.append(Finding(0.9, reason, scheme, host))
    if isinstance(literal, ipaddress.IPv4Address) and not _DOTTED_QUAD.fullmatch(bare):
        findings.append(Finding(0.7, f"IPv4 literal in an odd notation ({host} = {literal})", scheme, host))
    if _LOCAL_NAMES.search(bare) and resolved is None:
        findings.append(Finding(0.8, f"user-chosen URL names a local host ({host})", scheme, host))
    return metadata, findings


@lru_cache(maxsize=4096)
def destination(url: str, resolved_ip: str | None) -> Destination:
    """Parse and classify ``url``; cached, as sinks see the same few URLs again and again."""
    resolved = parse_ip(resolved_ip) if resolved_ip else None
    metadata: tuple[str, str] | None = None
    findings: list[Finding] = []
    for scheme, host in _hosts_of(url):
        is_metadata, found = _judge_host(scheme, host, resolved)
        if is_metadata and metadata is None:
            metadata = (scheme, host)
        findings.extend(found)
    return Destination(metadata, tuple(findings))


@dataclass(frozen=True, slots=True)
class Allowed:
    """Destinations an application legitimately calls: exact names, ``*.suffix`` names,
    and networks (a single address is a /32 or /128)."""

    names: frozenset[str]
    suffixes: tuple[str, ...]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    def covers(self, host: str, resolved: str | None) -> bool:
        name = canonical_host(host) if host else ""
        if name in self.names or any(name.endswith(s) for s in self.suffixes):
            return True
        for candidate in (name, resolved):
            ip = parse_ip(candidate) if candidate else None
            if ip is not None and any(ip.version == net.version and ip in net for net in self.networks):
                return True
        return False


@lru_cache(maxsize=64)
def allowed(entries: tuple[str, ...]) -> Allowed:
    """Parse an allow-list; raises ValueError naming the entry that is neither a host name,
    a ``*.suffix`` pattern, an address nor a network."""
    names: set[str] = set()
    suffixes: list[str] = []
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for raw in entries:
        entry = raw.strip().lower()
        if entry.startswith("*."):
            suffixes.append(entry[1:])
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        if not entry or not re.fullmatch(r"[a-z0-9._-]+", entry):
            raise ValueError(f"ssrf allow_hosts entry {raw!r}: use a host name, *.suffix, address or network")
        names.add(canonical_host(entry))
    return Allowed(frozenset(names), tuple(suffixes), tuple(networks))


def _host(url: str) -> str:
    found = _split(url.strip())
    return found[1] if found is not None else ""


def _later_hop(origin: str, url: str) -> bool:
    """True when ``url`` goes to another host than the chain's first URL (a redirect hop)."""
    return canonical_host(_host(origin)) != canonical_host(_host(url))


@register("ssrf")
def detect(
    url: str,
    inputs: Sequence[UserInput],
    *,
    resolved_ip: str | None = None,
    origin: str | None = None,
    allow_hosts: Sequence[str] = (),
) -> Detection | None:
    """Flag metadata destinations always, internal destinations a user chose, and internal
    hops of a redirect chain whose first URL (``origin``) a user chose."""
    if allow_hosts and allowed(tuple(allow_hosts)).covers(_host(url), resolved_ip):
        return None
    dest = destination(url, resolved_ip)
    if dest.metadata is not None:
        item = _from_input(url, *dest.metadata, inputs) if inputs else None
        return _report(
            0.95, "request to a cloud metadata endpoint", url, item.source if item is not None else None
        )
    if not inputs:
        return None
    for finding in dest.findings:
        item = _from_input(url, finding.scheme, finding.host, inputs)
        if item is not None:
            return _report(finding.confidence, finding.reason, item.text, item.source)
    if origin is not None and resolved_ip is not None and _later_hop(origin, url):
        resolved = parse_ip(resolved_ip)
        if resolved is not None and classify(resolved) is not None:
            for scheme, host in _hosts_of(origin):
                item = _from_input(origin, scheme, host, inputs) if host else None
                if item is not None:
                    reason = f"redirect from a user-chosen URL reaches an internal address ({resolved})"
                    return _report(0.85, reason, item.text, item.source)
    return None
