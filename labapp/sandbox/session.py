"""The sandbox as one object: simulators running, a resolver, a recorder, a client session."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp

from rampart.labapp.canaries import LabSecrets
from rampart.labapp.effects import EffectStore, current_request_id
from rampart.labapp.sandbox.addresses import IPAddress
from rampart.labapp.sandbox.connector import Attempt, SandboxConnector
from rampart.labapp.sandbox.dns import LabDNS, LabResolver
from rampart.labapp.sandbox.simulators import Simulators

__all__ = ["Sandbox"]


@dataclass
class Sandbox:
    """Outbound HTTP for the lab: ``open_session()`` gives a ClientSession that cannot leave
    loopback; every attempt lands in ``effects`` under the current request id."""

    simulators: Simulators
    effects: EffectStore
    dns: LabDNS = field(default_factory=LabDNS)

    @classmethod
    async def start(cls, secrets: LabSecrets, effects: EffectStore) -> Sandbox:
        return cls(await Simulators.start(secrets), effects)

    def record(self, attempt: Attempt) -> None:
        rid = current_request_id()
        detail = attempt.as_json()
        self.effects.add_outbound(rid, detail)
        if attempt.place.internal:
            self.effects.add(rid, "internal_contact", detail)

    def _on_lookup(self, host: str, addr: IPAddress | None) -> None:
        if addr is None:
            self.effects.add_outbound(
                current_request_id(), {"host": host, "address": None, "error": "nxdomain"}
            )

    def connector(self) -> SandboxConnector:
        return SandboxConnector(LabResolver(self.dns, self._on_lookup), self.simulators.ports, self.record)

    def open_session(self, timeout: float = 5.0) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=self.connector(),
            timeout=aiohttp.ClientTimeout(total=timeout),
            trust_env=False,
            auto_decompress=True,
        )

    async def stop(self) -> None:
        await self.simulators.stop()
