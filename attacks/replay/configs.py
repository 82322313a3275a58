"""The layer configurations compared (DESIGN.md "Layer configurations compared").

A configuration is a set of layers; it *catches* a case when any of its layers' verdict in
the detect pass is not ``allow``. Layers are named after the verdict header that reports
them, so adding an engine is one entry in :data:`LAYERS` and one in :data:`CONFIGS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CONFIGS", "LAYERS", "LayerConfig", "LayerSpec", "parse_configs"]

Guard = Literal["off", "block"]


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One protection layer: the harness header that carries its verdict."""

    name: str
    header: str
    kind: Literal["waf", "rasp"]
    engine: str | None = None  # the gateway engine name for WAF layers


LAYERS: dict[str, LayerSpec] = {
    "native": LayerSpec("native", "X-Rampart-Waf-Native", "waf", "native"),
    "crs": LayerSpec("crs", "X-Rampart-Waf-Crs", "waf", "crs"),
    "rasp": LayerSpec("rasp", "X-Rampart-Rasp", "rasp"),
}


@dataclass(frozen=True, slots=True)
class LayerConfig:
    """A configuration: which layers protect the lab, and how a block pass is set up."""

    name: str
    layers: tuple[str, ...]
    description: str

    @property
    def engine(self) -> str | None:
        """The gateway engine that enforces in this configuration's block pass, if any."""
        for layer in self.layers:
            if LAYERS[layer].engine is not None:
                return LAYERS[layer].engine
        return None

    @property
    def guard(self) -> Guard:
        return "block" if "rasp" in self.layers else "off"

    @property
    def tag(self) -> str:
        """The name as it may appear in a request id (no ``+``)."""
        return self.name.replace("+", "-")


CONFIGS: dict[str, LayerConfig] = {
    c.name: c
    for c in (
        LayerConfig("none", (), "lab direct, sink guard off"),
        LayerConfig("waf", ("native",), "native gateway, sink guard off"),
        LayerConfig("crs", ("crs",), "gateway with ModSecurity + OWASP CRS, sink guard off"),
        LayerConfig("rasp", ("rasp",), "lab direct, sink guard on"),
        LayerConfig("waf+rasp", ("native", "rasp"), "native gateway and sink guard"),
        LayerConfig("crs+rasp", ("crs", "rasp"), "CRS gateway and sink guard"),
    )
}


def parse_configs(spec: str | None) -> list[LayerConfig]:
    """``"none,waf,rasp"`` -> configurations in the canonical order; ``None``/``"all"`` -> all."""
    if spec is None or spec.strip() in ("", "all"):
        return list(CONFIGS.values())
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [w for w in wanted if w not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown configuration(s) {', '.join(unknown)}; use any of {', '.join(CONFIGS)}")
    return [c for name, c in CONFIGS.items() if name in wanted]
