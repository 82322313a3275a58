"""CRS's own regression suites replayed through both engines: the native ``seclang`` engine
must pass (nearly) every stage that libmodsecurity (``crs``) passes.

The floors are regression floors from measured runs (docs/CRS.md has the full figures), not
targets (full suites: 100% of crs's passes on CRS 3.3.4 and 4.28.0). To keep
the run to a few minutes on two cores, CRS 3.3.4 uses every second test and CRS 4.28.0 every
eighth (the sampling is fixed, so the figures are reproducible).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rampart.attacks.ftw.runner import CRS_VERSIONS, agreement, load_tests, run
from tests.conftest import need

pytestmark = [pytest.mark.system, pytest.mark.slow]

FLOORS = {"3.3.4": 0.999, "4.28.0": 0.999}
SAMPLING = {"3.3.4": 2, "4.28.0": 8}


@pytest.mark.parametrize("version", ["3.3.4", "4.28.0"])
def test_native_engine_passes_what_libmodsecurity_passes(version: str) -> None:
    crs_version = CRS_VERSIONS[version]
    need(crs_version.tests.is_dir(), f"CRS {version} regression tests in {crs_version.tests}")
    need((crs_version.crs_dir / "rules").is_dir(), f"CRS {version} rules in {crs_version.crs_dir}")
    tests = load_tests(crs_version)[:: SAMPLING[version]]
    reference = run("crs", version, tests=tests)
    native = run("seclang", version, tests=tests)
    same, total = agreement(native, reference.passed_titles())
    assert total > 300
    assert same / total >= FLOORS[version], f"seclang passes {same}/{total} of crs's passes"
    overall = native.overall()
    assert overall.attack_passed / overall.attack_total >= 0.95
    assert not [r for r in native.results if r.error is not None]


@pytest.mark.parametrize("version", ["3.3.4", "4.28.0"])
def test_crs_loads_unchanged_with_every_operator_and_transformation(version: str) -> None:
    from rampart.gateway.engines.native.seclang.engine import SecLangEngine
    from rampart.gateway.model import EngineSettings

    crs_dir = CRS_VERSIONS[version].crs_dir
    need(Path(crs_dir, "rules").is_dir(), f"CRS {version} rules in {crs_dir}")
    engine = SecLangEngine(EngineSettings(paranoia=4, crs_dir=str(crs_dir)))
    assert engine.rule_count > 400
    assert engine.unsupported == ()
