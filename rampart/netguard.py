"""Loopback-only socket guard (docs/CONTRACTS.md safety rule 1).

``install()`` patches ``socket.socket.connect``/``connect_ex``/``sendto`` and
``socket.getaddrinfo`` so that any attempt to reach a non-loopback address raises
:class:`NonLoopbackError` and is recorded in :data:`violations`. The test suite installs
it for every test, and every rampart process installs it when ``RAMPART_LOOPBACK_ONLY=1``
(the lab always does). Unix sockets are allowed.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from typing import Any

__all__ = ["NonLoopbackError", "install", "is_installed", "is_loopback_host", "violations"]

ENV_FLAG = "RAMPART_LOOPBACK_ONLY"
violations: list[str] = []
_lock = threading.Lock()
_installed = False
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class NonLoopbackError(PermissionError):
    """Raised instead of sending a packet off loopback."""


def is_loopback_host(host: str | bytes | None) -> bool:
    if host is None:
        return True  # passive/wildcard lookups (bind) do not send anything
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = host.strip("[]").split("%", 1)[0]
    if host.lower() in _LOCAL_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback or addr.is_unspecified


def _record(what: str) -> None:
    with _lock:
        violations.append(what)


def _check_address(address: Any) -> None:
    if (
        isinstance(address, tuple)
        and address
        and isinstance(address[0], str | bytes)
        and not is_loopback_host(address[0])
    ):
        _record(f"connect {address!r}")
        raise NonLoopbackError(f"rampart safety: refusing to contact {address[0]!r} (not loopback)")


def install() -> None:
    """Install the guard process-wide (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    orig_connect = socket.socket.connect
    orig_connect_ex = socket.socket.connect_ex
    orig_sendto = socket.socket.sendto
    orig_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check_address(address)
        return orig_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check_address(address)
        return orig_connect_ex(self, address)

    def sendto(self: socket.socket, *args: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check_address(args[-1])
        return orig_sendto(self, *args)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_loopback_host(host):
            _record(f"resolve {host!r}")
            raise NonLoopbackError(f"rampart safety: refusing to resolve {host!r} (not loopback)")
        return orig_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.socket.sendto = sendto  # type: ignore[assignment,method-assign]
    socket.getaddrinfo = getaddrinfo


def is_installed() -> bool:
    return _installed


def install_from_env() -> None:
    if os.environ.get(ENV_FLAG) == "1":
        install()
