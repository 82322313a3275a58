"""Pure mapping from CRS rule messages to shared matches, and the load plan."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from rampart.gateway.engines.crs.config import (
    REPORT_RULE_ID,
    engine_directives,
    report_directives,
    tuning_directives,
)
from rampart.gateway.engines.crs.mapping import attack_class_for, is_bookkeeping, parse_total, to_rule_match
from rampart.gateway.model import EngineSettings


@dataclass
class Message:
    """The fields of ``libmodsecurity.RuleMessage`` the mapping reads."""

    rule_id: int
    severity: int = 2
    message: str = ""
    match: str = ""
    data: str = ""
    tags: list[str] = field(default_factory=list)


@pytest.mark.parametrize(
    ("rule_id", "tags", "expected"),
    [
        ("942100", ["attack-sqli"], "sql_injection"),
        ("941110", ["attack-xss"], "xss"),
        ("932100", ["attack-rce"], "command_injection"),
        ("930120", ["attack-lfi"], "path_traversal"),
        ("931130", ["attack-rfi"], "ssrf"),
        ("933160", ["attack-injection-php"], "code_injection"),
        ("934100", ["attack-rce", "attack-injection-nodejs"], "code_injection"),
        ("944100", ["attack-rce"], "code_injection"),
        ("944210", ["attack-rce"], "deserialization"),
        ("920350", ["attack-protocol"], "protocol"),
        ("943100", ["attack-fixation"], "anomaly"),
        ("913100", ["attack-reputation-scanner"], "anomaly"),
        ("77010", ["attack-protocol"], "protocol"),
        ("123456", [], "anomaly"),
    ],
)
def test_attack_class_registries(rule_id: str, tags: list[str], expected: str) -> None:
    assert attack_class_for(rule_id, tags) == expected


@pytest.mark.parametrize(
    ("rule_id", "bookkeeping"),
    [(949110, True), (959100, True), (980130, True), (REPORT_RULE_ID, True), (942100, False), (77010, False)],
)
def test_bookkeeping_rules(rule_id: int, bookkeeping: bool) -> None:
    assert is_bookkeeping(rule_id) is bookkeeping


@pytest.mark.parametrize(
    ("data", "total"),
    [("15|", 15), ("|12", 12), ("0|", 0), ("3|7", 7), ("|", None), ("garbage", None)],
)
def test_parse_total(data: str, total: int | None) -> None:
    assert parse_total(data) == total


@pytest.mark.parametrize(
    ("severity", "name", "score"),
    [(2, "critical", 5), (3, "error", 4), (4, "warning", 3), (5, "notice", 2)],
)
def test_severity_scores(severity: int, name: str, score: int) -> None:
    match = to_rule_match(Message(942100, severity=severity, tags=["attack-sqli"]))
    assert (match.severity, match.score) == (name, score)


def test_target_and_matched_from_crs_logdata() -> None:
    match = to_rule_match(
        Message(
            941110,
            message="XSS Filter - Category 1: Script Tag Vector",
            data="Matched Data: <script> found within ARGS:json.text: hi <script>alert(1)</script>",
            tags=["attack-xss", "paranoia-level/2"],
        )
    )
    assert (match.target, match.matched, match.paranoia) == ("ARGS:json.text", "<script>", 2)
    assert match.rule_id == "941110"
    assert match.tags == ("attack-xss", "paranoia-level/2")


def test_target_from_operator_text_when_logdata_is_free_form() -> None:
    match = to_rule_match(
        Message(
            920420,
            match="Matched \"Operator `Within' with parameter `|application/json|' against variable "
            "`TX:0' (Value: `text/plain' )",
            data="text/plain",
        )
    )
    assert (match.target, match.matched) == ("TX:0", "text/plain")


@pytest.mark.parametrize(("paranoia", "threshold"), [(1, 5), (3, 12)])
def test_tuning_sets_crs3_and_crs4_variables(paranoia: int, threshold: int) -> None:
    text = tuning_directives(EngineSettings(paranoia=paranoia, threshold=threshold))
    for var in ("paranoia_level", "executing_paranoia_level", "blocking_paranoia_level"):
        assert f"setvar:tx.{var}={paranoia}," in text
    assert f"setvar:tx.inbound_anomaly_score_threshold={threshold}" in text


def test_engine_directives_detect_only_with_json_body_processor() -> None:
    text = engine_directives(EngineSettings(body_limit=4096))
    assert "SecRuleEngine DetectionOnly" in text
    assert "SecRequestBodyLimit 4096" in text
    assert "requestBodyProcessor=JSON" in text
    assert f"id:{REPORT_RULE_ID}" in report_directives()
