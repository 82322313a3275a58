"""A CRS engine factory for the crs tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rampart.gateway.model import EngineSettings, Mode


@pytest.fixture
def make_crs(crs_dir: Path) -> Iterator[Callable[..., object]]:
    """Build CRS engines against the fixture's CRS folder; all are closed after the test."""
    from rampart.gateway.engines.crs.engine import CrsEngine

    built: list[CrsEngine] = []

    def make(mode: Mode = "block", paranoia: int = 1, threshold: int = 5, **extra: object) -> CrsEngine:
        settings = EngineSettings(
            mode=mode,
            paranoia=paranoia,
            threshold=threshold,
            crs_dir=str(crs_dir),
            **extra,  # type: ignore[arg-type]
        )
        engine = CrsEngine(settings)
        built.append(engine)
        return engine

    yield make
    for engine in built:
        engine.close()
