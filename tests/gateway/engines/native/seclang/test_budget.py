"""The SecLang engine keeps the request's time budget (``budget_ms`` of the inspecting
thread's CPU), as the YAML rules engine does: past it, the inspection stops with the
``over_budget`` outcome; the native (combined) engine keeps it too.
A budget of a nanosecond is spent before the eighth rule, whatever the machine's speed."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampart.gateway.engines.native.budget import BUDGET_RULE_ID
from rampart.gateway.engines.native.combined import CombinedEngine
from rampart.gateway.engines.native.seclang.engine import SecLangEngine
from rampart.gateway.model import EngineSettings, OverBudget, RawRequest

pytestmark = pytest.mark.system

BENIGN = RawRequest("GET", "/products?q=garden+chairs", (("Host", "localhost"), ("User-Agent", "tests")))
NANOSECOND_MS = 1e-6


@pytest.mark.parametrize(("over_budget", "flagged"), [("block", True), ("allow", False)])
def test_past_the_budget_crs_stops_with_the_configured_outcome(
    crs_dir: Path, over_budget: OverBudget, flagged: bool
) -> None:
    settings = EngineSettings(crs_dir=str(crs_dir), budget_ms=NANOSECOND_MS, over_budget=over_budget)
    engine = SecLangEngine(settings)
    try:
        verdict = engine.inspect(BENIGN)
    finally:
        engine.close()
    assert verdict.error is None
    assert verdict.budget_exceeded
    assert verdict.flagged is flagged
    assert [m.rule_id for m in verdict.matches] == [BUDGET_RULE_ID]


def test_without_a_budget_crs_runs_to_the_end(crs_dir: Path) -> None:
    engine = SecLangEngine(EngineSettings(crs_dir=str(crs_dir), budget_ms=0))
    try:
        verdict = engine.inspect(BENIGN)
        over = engine.inspect(BENIGN, budget_ms=NANOSECOND_MS)  # a per-call budget wins
    finally:
        engine.close()
    assert not verdict.budget_exceeded
    assert not verdict.flagged
    assert over.budget_exceeded


def test_the_native_engine_keeps_the_budget(crs_dir: Path) -> None:
    engine = CombinedEngine(EngineSettings(crs_dir=str(crs_dir), budget_ms=NANOSECOND_MS))
    try:
        verdict = engine.inspect(BENIGN)
    finally:
        engine.close()
    assert verdict.budget_exceeded
    assert verdict.flagged
    assert BUDGET_RULE_ID in verdict.rule_ids
