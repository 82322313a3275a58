"""The layer configurations of docs/CONTRACTS.md and how to start each one as real processes.

``none`` lab direct, guard off; ``waf`` native gateway; ``crs`` CRS gateway; ``rasp`` lab
direct, guard on; ``waf+rasp`` and ``crs+rasp`` both layers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from rampart.procs import spawn

__all__ = ["CONFIGS", "LayerConfig", "Running", "parse_configs", "start_config"]


@dataclass(frozen=True, slots=True)
class LayerConfig:
    name: str
    engine: str | None  # gateway engine(s), None: no gateway
    guard: bool  # sink guard in the lab

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(x for x in (self.engine and "waf", self.guard and "rasp") if x)


CONFIGS: dict[str, LayerConfig] = {
    c.name: c
    for c in (
        LayerConfig("none", None, False),
        LayerConfig("waf", "native", False),
        LayerConfig("crs", "crs", False),
        LayerConfig("rasp", None, True),
        LayerConfig("waf+rasp", "native", True),
        LayerConfig("crs+rasp", "crs", True),
    )
}


def parse_configs(spec: str) -> list[LayerConfig]:
    """``"none,waf,rasp"`` or ``"all"`` -> configs; ``ValueError`` naming the unknown ones."""
    if spec.strip() == "all":
        return list(CONFIGS.values())
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown configuration(s) {', '.join(unknown)}; use {', '.join(CONFIGS)} or all")
    return [CONFIGS[n] for n in names]


@dataclass(frozen=True, slots=True)
class Running:
    config: LayerConfig
    url: str  # where clients send traffic (gateway, or the lab directly)
    lab_url: str  # the lab itself (oracle endpoint)


@contextlib.asynccontextmanager
async def start_config(
    config: LayerConfig,
    *,
    mode: str = "block",
    harness: bool = True,
    lab_args: Sequence[str] = (),
    gateway_args: Sequence[str] = (),
    engine: str | None = None,
    timeout: float = 180.0,
) -> AsyncIterator[Running]:
    """Start the lab (guard per config) and, if the config has one, a gateway in front."""
    lab_cmd = ["lab", "--port", "0", "--guard", mode if config.guard else "off", *lab_args]
    if harness:
        lab_cmd.append("--harness")
    async with spawn(lab_cmd, timeout=timeout) as lab:
        eng = engine or config.engine
        if eng is None:
            yield Running(config, lab.url, lab.url)
            return
        gw_cmd = [
            "gateway",
            "--upstream",
            lab.url,
            "--port",
            "0",
            "--engine",
            eng,
            "--mode",
            mode,
            *gateway_args,
        ]
        if harness:
            gw_cmd.append("--harness")
        async with spawn(gw_cmd, timeout=timeout) as gateway:
            yield Running(config, gateway.url, lab.url)
