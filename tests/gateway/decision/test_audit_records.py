"""Audit records are bounded, rotatable, and say which request they belong to."""

from __future__ import annotations

import json
import logging
import urllib.parse
from pathlib import Path

from rampart.gateway.audit import incidents_for
from rampart.gateway.engines import create_engine
from rampart.gateway.model import EngineSettings, RawRequest, RuleMatch, Verdict
from rampart.gateway.proxy.logsummary import EventSummary
from rampart.incidents import FIELD_LIMITS, Incident, IncidentWriter, read_incidents


def _verdict(target: str, matched: str, count: int = 4) -> Verdict:
    matches = tuple(
        RuleMatch(f"94{i}", "sql_injection", "SQL injection", "critical", 5, target, matched)
        for i in range(count)
    )
    return Verdict("native", score=5 * count, threshold=5, matches=matches)


def test_a_huge_attacker_chosen_target_name_is_bounded_in_every_field() -> None:
    name = "ARGS:" + "n" * 60_000
    incidents = incidents_for(
        _verdict(name, "x" * 60_000),
        request_id="r1",
        action="block",
        limit=20,
        path="/" + "p" * 60_000,
        host="h" * 5000,
        client="203.0.113.7",
        method="GET",
    )
    assert len(incidents) == 4
    total = sum(len(i.to_json()) for i in incidents)
    assert total < 4 * 2_500, total  # was ~240 KB for this request
    first = incidents[0]
    assert first.message.startswith("SQL injection [ARGS:nnn")
    assert "…" in first.message
    assert first.path is not None
    assert len(first.path) == FIELD_LIMITS["path"]
    assert first.path.endswith("…")
    assert first.host is not None
    assert len(first.host) == FIELD_LIMITS["host"]
    assert len(first.evidence) <= 256


def test_the_native_engine_on_a_60kb_parameter_name_writes_a_small_record() -> None:
    engine = create_engine("native", EngineSettings())
    name = "q" * 60_000 + "' or 1=1 union select password from users-- <script>alert(1)</script>"
    request = RawRequest("GET", "/search?" + urllib.parse.quote(name) + "=1", (("Host", "lab"),))
    verdict = engine.inspect(request)
    assert verdict.flagged
    assert max(len(m.target) for m in verdict.matches) > 60_000
    for incident in incidents_for(verdict, request_id="r2", action="detect", limit=20):
        assert len(incident.to_json()) < 2_500


def test_short_fields_are_kept_exactly() -> None:
    incident = Incident.create(
        request_id="r",
        layer="waf",
        engine="crs",
        rule="942100",
        attack_class="sqli",
        action="block",
        confidence=0.9,
        message="m",
        path="/a/b",
        status=403,
        decision="block",
    )
    assert (incident.rule, incident.path, incident.status) == ("942100", "/a/b", 403)
    assert incident.decision == "block"


def test_writer_rotates_by_size_and_keeps_a_count(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writer = IncidentWriter(path, max_bytes=1_000, backups=2)
    line = json.dumps({"pad": "x" * 180})
    for _ in range(30):
        writer.write_line(line)
    writer.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 1_000
    assert writer.count == 30
    assert writer.rotations >= 5


def test_reopen_follows_an_external_rotation(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writer = IncidentWriter(path)
    incident = Incident.create(
        request_id="r", layer="waf", engine="e", rule="1", attack_class="xss", action="detect", confidence=0.5
    )
    writer.write(incident)
    path.rename(tmp_path / "audit.jsonl.old")  # logrotate moved it
    writer.write(incident)  # still the old file, as with any append-mode log
    writer.reopen()  # SIGHUP
    writer.write(incident)
    writer.close()
    assert len(read_incidents(tmp_path / "audit.jsonl.old")) == 2
    assert len(read_incidents(path)) == 1


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_event_summary_logs_one_example_and_one_summary_per_interval(caplog) -> None:
    caplog.set_level(logging.INFO, logger="rmp.test.summary")
    clock = Clock()
    summary = EventSummary(logging.getLogger("rmp.test.summary"), "rate_limited", interval=10, clock=clock)
    for i in range(500):
        summary.record("api" if i % 5 else "login", request_id=f"r{i}", rule="api")
    clock.now += 10
    summary.record("api", request_id="next")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "rate_limited request_id=r0 rule=api"
    assert lines[1].startswith("rate_limited_summary suppressed=499 keys=2 interval=10s top=api:400,login:99")
    assert lines[2] == "rate_limited request_id=next"
    assert len(lines) == 3
    summary.flush()
    assert len(caplog.records) == 3  # nothing suppressed since: no summary line
