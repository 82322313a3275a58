"""The connector that makes aiohttp's outbound HTTP land on loopback simulators.

Host resolution is left to aiohttp and :class:`~rampart.labapp.sandbox.dns.LabResolver`, so code
watching ``TCPConnector._resolve_host`` sees the *virtual* address (``169.254.169.254``).
At connect time :meth:`SandboxConnector._wrap_create_connection` (a private aiohttp hook,
pinned by tests) records that destination and swaps it for ``127.0.0.1:<simulator port>``;
TLS is terminated virtually (the simulators speak plain HTTP).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohappyeyeballs import AddrInfoType
from aiohttp import ClientConnectorError, TCPConnector
from aiohttp.abc import ResolveResult
from aiohttp.client_reqrep import ClientRequest
from aiohttp.tracing import Trace

from rampart.labapp.sandbox.addresses import IPAddress, Place, classify, literal_address
from rampart.labapp.sandbox.dns import LabResolver
from rampart.labapp.sandbox.simulators import SimulatorKind, simulator_for

__all__ = ["Attempt", "SandboxConnector"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One outbound connection the app tried to open."""

    url: str
    host: str
    address: str
    port: int
    place: Place
    simulator: SimulatorKind

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "host": self.host,
            "address": self.address,
            "port": self.port,
            "place": self.place.value,
            "simulator": self.simulator,
        }


class SandboxConnector(TCPConnector):
    """A ``TCPConnector`` whose sockets only ever reach loopback simulators.

    ``force_close`` and no DNS cache: every request resolves and connects afresh, so every
    attempt is recorded and DNS rebinding behaves as it would against a real resolver.
    """

    def __init__(
        self,
        resolver: LabResolver,
        ports: dict[SimulatorKind, int],
        record: Callable[[Attempt], None],
    ) -> None:
        super().__init__(resolver=resolver, use_dns_cache=False, force_close=True, limit=200)
        self._ports = ports
        self._record_attempt = record

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        """Legacy IPv4 literals (``2852039166``, ``127.1``) are read like ``inet_aton`` does
        and handed on in canonical form, as an older aiohttp or any libc-based client would."""
        literal = literal_address(host) if ":" not in host else None
        if literal is not None and str(literal) != host:
            host = str(literal)
        return await super()._resolve_host(host, port, traces=traces)

    async def _wrap_create_connection(
        self,
        *args: Any,
        addr_infos: list[AddrInfoType],
        req: ClientRequest,
        timeout: Any,
        client_error: type[Exception] = ClientConnectorError,
        **kwargs: Any,
    ) -> Any:
        if not addr_infos:
            raise client_error(req.connection_key, OSError("no address to connect to"))
        sockaddr = addr_infos[0][4]
        virtual: IPAddress | None = literal_address(str(sockaddr[0]))
        if virtual is None:
            raise client_error(req.connection_key, OSError(f"unexpected address {sockaddr[0]!r}"))
        place = classify(virtual)
        kind = simulator_for(virtual, place)
        self._record_attempt(
            Attempt(
                url=str(req.url),
                host=req.url.raw_host or "",
                address=str(virtual),
                port=int(sockaddr[1]),
                place=place,
                simulator=kind,
            )
        )
        loopback: list[AddrInfoType] = [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", self._ports[kind]))
        ]
        kwargs["ssl"] = None
        kwargs["server_hostname"] = None
        kwargs.pop("ssl_shutdown_timeout", None)
        return await super()._wrap_create_connection(
            *args, addr_infos=loopback, req=req, timeout=timeout, client_error=client_error, **kwargs
        )
