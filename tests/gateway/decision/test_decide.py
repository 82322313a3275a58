"""``rampart.gateway.decision``: the one fail-open and the one mode-meets-verdicts function, run on
the shipped testing engine's real verdicts."""

from __future__ import annotations

import pytest

from rampart.gateway.decision import RequestFacts, decide, engine_header, run_engine
from rampart.gateway.engines.testing import LiteralEngine
from rampart.gateway.model import EngineSettings, RawRequest, Verdict
from rampart.verdicts import WAF_HEADER, parse_verdict_header

ATTACK = RawRequest("GET", "/search?q=%3Cscript%3E", (("Host", "shop.test"),), request_id="rid-1")
CLEAN = RawRequest("GET", "/search?q=shoes", (("Host", "shop.test"),), request_id="rid-2")
CRASH = RawRequest("GET", "/x?q=rmp-test-crash", (), request_id="rid-3")
FACTS = RequestFacts("rid-1", "203.0.113.9", "GET", "shop.test", "/search")


def _engine(name: str = "testing", threshold: int = 5) -> LiteralEngine:
    return LiteralEngine(EngineSettings(threshold=threshold), name=name)


def test_engines_report_findings_not_decisions() -> None:
    for mode in ("detect", "block"):  # the engine is given a mode and ignores it
        engine = LiteralEngine(EngineSettings(mode=mode))
        verdict = engine.inspect(ATTACK)
        assert (verdict.flagged, verdict.score, verdict.rule_ids) == (True, 5, ("T100",))
    assert not _engine().inspect(CLEAN).flagged
    assert not _engine(threshold=6).inspect(ATTACK).flagged


def test_run_engine_fails_open_with_the_error_kept() -> None:
    verdict = run_engine(_engine(), CRASH, name="native", threshold=7)
    assert verdict.engine == "native"
    assert verdict.error == "RuntimeError: testing engine asked to crash"
    assert (verdict.score, verdict.threshold, verdict.flagged) == (0, 7, False)
    assert run_engine(_engine(), ATTACK).flagged


def test_an_error_verdict_never_flags_even_over_threshold() -> None:
    assert not Verdict("x", score=50, threshold=5, error="boom").flagged


@pytest.mark.parametrize(
    ("mode", "request_", "blocked", "status", "decision", "reason"),
    [
        ("block", ATTACK, True, 403, "block", "blocked"),
        ("detect", ATTACK, False, None, "detect", "flagged"),
        ("block", CLEAN, False, None, "allow", "allowed"),
        ("block", CRASH, False, None, "allow", "engine_error"),
    ],
)
def test_decide_enforcing_engine(
    mode: str, request_: RawRequest, blocked: bool, status: int | None, decision: str, reason: str
) -> None:
    verdict = run_engine(_engine(), request_)
    outcome = decide([verdict], mode=mode, harness=False)  # type: ignore[arg-type]
    assert (outcome.blocked, outcome.status, outcome.decision, outcome.reason) == (
        blocked,
        status,
        decision,
        reason,
    )
    assert outcome.headers == ()
    assert outcome.incidents == ()  # no facts given: nothing to audit


def test_a_shadow_engine_never_blocks_and_reports_what_it_would_do() -> None:
    enforce = _engine("native", threshold=100).inspect(ATTACK)
    shadow = _engine("crs").inspect(ATTACK)
    outcome = decide([enforce, shadow], mode="block", harness=True, facts=FACTS)
    assert not outcome.blocked
    assert outcome.decision == "detect"
    assert [(a.name, a.role, a.decision) for a in outcome.actions] == [
        ("native", "enforce", "allow"),
        ("crs", "shadow", "block"),
    ]
    headers = outcome.header_map
    enforcing = parse_verdict_header(headers[WAF_HEADER])
    assert enforcing is not None
    assert enforcing.decision == "allow"
    assert headers[engine_header("crs")] == "block; score=5; rules=T100"
    assert [(i.engine, i.action) for i in outcome.incidents] == [("crs", "detect")]


def test_harness_headers_use_the_configured_names() -> None:
    verdict = _engine("testing").inspect(ATTACK)
    outcome = decide([verdict], mode="detect", harness=True, names=["native"])
    assert outcome.header_map == {
        WAF_HEADER: "detect; score=5; rules=T100",
        "X-Rampart-Waf-Native": "detect; score=5; rules=T100",
    }


def test_incidents_carry_the_request_and_get_the_status_later() -> None:
    outcome = decide([_engine().inspect(ATTACK)], mode="block", harness=False, facts=FACTS)
    (incident,) = outcome.incidents
    assert incident.status is None
    (record,) = outcome.audit_records(403)
    assert (record.request_id, record.client, record.method, record.host, record.path) == (
        "rid-1",
        "203.0.113.9",
        "GET",
        "shop.test",
        "/search",
    )
    assert (record.status, record.decision, record.action, record.rule) == (403, "block", "block", "T100")


def test_audit_limit_caps_incidents_per_engine() -> None:
    many = RawRequest("GET", "/?a=%3Cscript&b=../&c=$ne", (), request_id="r")
    verdict = _engine().inspect(many)
    assert len(verdict.matches) == 3
    outcome = decide([verdict], mode="detect", harness=False, facts=FACTS, audit_limit=2)
    assert len(outcome.incidents) == 2


def test_decide_refuses_mismatched_input() -> None:
    with pytest.raises(ValueError, match="at least one verdict"):
        decide([], mode="block", harness=False)
    with pytest.raises(ValueError, match="2 engine names for 1 verdicts"):
        decide([_engine().inspect(CLEAN)], mode="block", harness=False, names=["a", "b"])
