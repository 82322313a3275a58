"""Fixtures for the SecLang operator and transformation tests: operator construction, the
libmodsecurity oracle, CRS 3.3.4 (Debian) and 4.28.0 (shared) rule folders, CRS test inputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rampart.attacks.ftw.runner import shared_crs as shared_crs_folder
from rampart.gateway.engines.native.seclang.operators import Operator, OperatorContext, get
from tests.conftest import need
from tests.gateway.engines.native.seclang.crs_inputs import crs_payloads

if TYPE_CHECKING:
    from tests.gateway.engines.native.seclang.modsec_oracle import ModSecOracle

_HERE = Path(__file__).resolve()


@pytest.fixture
def context(tmp_path: Path) -> OperatorContext:
    return OperatorContext(tmp_path)


def build(name: str, argument: str = "", base_dir: Path | None = None) -> Operator:
    """The operator ``@name argument`` for a rule file in ``base_dir`` (default: here)."""
    return get(name)(argument, OperatorContext(base_dir or _HERE.parent))


@pytest.fixture(scope="session")
def oracle() -> ModSecOracle:
    """libmodsecurity itself (the crs extra), answering what a transformation or operator does."""
    need(importlib.util.find_spec("libmodsecurity") is not None, "libmodsecurity (the crs extra)")
    from tests.gateway.engines.native.seclang.modsec_oracle import ModSecOracle

    return ModSecOracle()


@pytest.fixture(scope="session")
def shared_crs() -> Path:
    """The shared CRS data folder (CRS 4.28.0 rules, 3.3.4 and 4.28.0 regression tests)."""
    path = shared_crs_folder()
    need((path / "v4.28.0" / "rules").is_dir(), f"shared CRS data at {path} (set RAMPART_SHARED_CRS)")
    return path


@pytest.fixture(scope="session")
def crs_rule_dirs(crs_dir: Path, shared_crs: Path) -> tuple[Path, Path]:
    """CRS 3.3.4's rules (Debian) and CRS 4.28.0's (shared)."""
    return crs_dir / "rules", shared_crs / "v4.28.0" / "rules"


@pytest.fixture(scope="session")
def payloads(shared_crs: Path) -> list[bytes]:
    """Request values from CRS's own regression tests (inputs this project did not write)."""
    found = crs_payloads(shared_crs)
    need(len(found) > 1000, f"CRS regression tests under {shared_crs}")
    return found
