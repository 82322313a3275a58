"""The layer configurations compared, seen from the harness (docs/CONTRACTS.md "Layer
configurations compared"; how to start each one lives in :mod:`rampart.topology`).

The harness names each *layer* after the verdict header that reports it (``native``,
``crs``, ``rasp``): a configuration *catches* a case when any of its layers' detect-pass
verdict is not ``allow``. Adding an engine is one entry in :data:`LAYERS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rampart import topology

__all__ = ["CONFIGS", "LAYERS", "LayerConfig", "LayerSpec", "parse_configs"]


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One protection layer: the harness header that carries its verdict."""

    name: str
    header: str
    kind: Literal["waf", "rasp"]
    label: str


LAYERS: dict[str, LayerSpec] = {
    "native": LayerSpec("native", "X-Rampart-Waf-Native", "waf", "native WAF (CRS + rampart rules)"),
    "crs": LayerSpec("crs", "X-Rampart-Waf-Crs", "waf", "ModSecurity + CRS"),
    "rasp": LayerSpec("rasp", "X-Rampart-Rasp", "rasp", "sink guard (RASP)"),
}

_DESCRIPTIONS = {
    "none": "lab direct, sink guard off",
    "waf": "native gateway (OWASP CRS on the SecLang engine + rampart's YAML rules), sink guard off",
    "crs": "gateway with ModSecurity + OWASP CRS, sink guard off",
    "rasp": "lab direct, sink guard on",
    "waf+rasp": "native gateway (CRS + rampart's YAML rules) and sink guard",
    "crs+rasp": "CRS gateway and sink guard",
}


@dataclass(frozen=True, slots=True)
class LayerConfig:
    """A configuration as the harness sees it: its layers and how to start it."""

    name: str
    layers: tuple[str, ...]
    description: str
    topology: topology.LayerConfig

    @property
    def tag(self) -> str:
        """The name as it may appear in a request id (no ``+``)."""
        return self.name.replace("+", "-")


def _from_topology(cfg: topology.LayerConfig) -> LayerConfig:
    engines = tuple(e for e in (cfg.engine or "").split(",") if e)
    layers = (*engines, *(("rasp",) if cfg.guard else ()))
    return LayerConfig(cfg.name, layers, _DESCRIPTIONS.get(cfg.name, cfg.name), cfg)


CONFIGS: dict[str, LayerConfig] = {name: _from_topology(cfg) for name, cfg in topology.CONFIGS.items()}


def parse_configs(spec: str | None) -> list[LayerConfig]:
    """``"none,waf,rasp"`` -> configurations in the canonical order; ``None``/``"all"`` -> all."""
    if spec is None or spec.strip() in ("", "all"):
        return list(CONFIGS.values())
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [w for w in wanted if w not in CONFIGS]
    if unknown:
        raise ValueError(
            f"unknown configuration(s) {', '.join(unknown)}; use any of {', '.join(CONFIGS)} or all"
        )
    return [c for name, c in CONFIGS.items() if name in wanted]
