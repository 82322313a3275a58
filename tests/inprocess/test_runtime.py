"""The choke point: detect vs block, incidents (shared schema, redacted), dedupe, fail open,
sink-only checks without a request, config and policy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rampart.incidents import read_incidents
from rampart.inprocess import detectors
from rampart.inprocess import guard as runtime
from rampart.inprocess.config import Action, load_settings
from rampart.inprocess.context import bind
from rampart.inprocess.detectors import Detection
from rampart.inprocess.errors import Blocked, GuardConfigError
from rampart.inprocess.findings import GuardDetection
from rampart.inprocess.install import deactivate
from rampart.inprocess.policy import decide

from .conftest import request_ctx


@detectors.register("test_crash")
def _crash(argument: object, inputs: object) -> Detection | None:
    raise RuntimeError("detector bug")


@detectors.register("test_secret")
def _secret(argument: object, inputs: object) -> Detection | None:
    return Detection("test_secret", "sql_injection", 0.9, "test", f"password={argument} \x1b[31m", "query.q")


INJECTED = "1 OR 1=1"
QUERY = f"SELECT id FROM t WHERE id = {INJECTED}"


@pytest.fixture
def db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER)")
    conn.execute("INSERT INTO t VALUES (1), (2)")
    return conn


def _guarded_db(make_guard, mode: str) -> sqlite3.Connection:
    make_guard(mode)
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER)")
    conn.execute("INSERT INTO t VALUES (1), (2)")
    return conn


def test_block_mode_raises_and_records(make_guard, incidents_file: Path) -> None:
    conn = _guarded_db(make_guard, "block")
    ctx = request_ctx("rid-block", id=INJECTED)
    with bind(ctx), pytest.raises(Blocked) as info:
        conn.execute(QUERY)
    assert info.value.incident == "rid-block"
    assert info.value.sink == "sql"
    [incident] = read_incidents(incidents_file)
    assert (incident.layer, incident.engine, incident.rule, incident.attack_class) == (
        "rasp",
        "sinkguard",
        "sql",
        "sql_injection",
    )
    assert (incident.action, incident.sink, incident.operation, incident.request_id) == (
        "block",
        "sql",
        "sqlite3.execute",
        "rid-block",
    )
    assert [d.detection.detector for d in ctx.detections] == ["sql"]


def test_detect_mode_runs_the_call_and_records(make_guard, incidents_file: Path) -> None:
    conn = _guarded_db(make_guard, "detect")
    ctx = request_ctx("rid-detect", id=INJECTED)
    with bind(ctx):
        rows = conn.execute(QUERY).fetchall()
    assert sorted(rows) == [(1,), (2,)]
    [incident] = read_incidents(incidents_file)
    assert incident.action == "log"
    assert runtime.blocked_in(ctx) is None


def test_benign_input_passes(make_guard, incidents_file: Path) -> None:
    conn = _guarded_db(make_guard, "block")
    with bind(request_ctx(id="1")):
        assert conn.execute("SELECT id FROM t WHERE id = 1").fetchall() == [(1,)]
    assert not incidents_file.exists()


def test_no_context_means_no_input_check(make_guard) -> None:
    conn = _guarded_db(make_guard, "block")
    assert len(conn.execute(QUERY).fetchall()) == 2


def test_fail_open_counts_and_runs_original(make_guard) -> None:
    guard = make_guard("block")
    with bind(request_ctx(q="x")):
        assert guard.check("test", "op", "test_crash", "x") is None
    assert guard.errors == 1
    assert "detector bug" in guard.recent_errors[-1]


def test_fail_open_unknown_detector(make_guard) -> None:
    guard = make_guard("block")
    with bind(request_ctx(q="x")):
        assert guard.check("test", "op", "no_such_detector", "x") is None
    assert guard.errors == 1


def test_incident_evidence_is_redacted(make_guard, incidents_file: Path) -> None:
    guard = make_guard("detect")
    with bind(request_ctx(q="x")):
        guard.check("test", "op", "test_secret", "hunter2")
    [incident] = read_incidents(incidents_file)
    assert "hunter2" not in incident.evidence
    assert "\x1b" not in incident.evidence
    assert "\\x1b" in incident.evidence


def test_same_finding_recorded_once_but_blocked_each_time(make_guard, incidents_file: Path) -> None:
    conn = _guarded_db(make_guard, "block")
    with bind(request_ctx(id=INJECTED)):
        for _ in range(2):
            with pytest.raises(Blocked):
                conn.execute(QUERY)
    assert len(read_incidents(incidents_file)) == 1


def test_disabled_detector_and_mode_off(make_guard) -> None:
    conn_guard = make_guard("block", detectors={"sql": {"enabled": False}})
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER)")
    with bind(request_ctx(id=INJECTED)):
        conn.execute(QUERY)
    assert conn_guard.detections == 0


def test_per_detector_log_action(make_guard, incidents_file: Path) -> None:
    make_guard("block", detectors={"sql": {"action": "log"}})
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER)")
    with bind(request_ctx(id=INJECTED)):
        conn.execute(QUERY)
    assert [i.action for i in read_incidents(incidents_file)] == ["log"]


def test_uninstall_restores_sqlite(make_guard) -> None:
    guard = make_guard("block")
    assert type(sqlite3.connect(":memory:")).__name__.startswith("Guarded")
    deactivate(guard)
    assert type(sqlite3.connect(":memory:")) is sqlite3.Connection


@pytest.mark.parametrize(
    ("mode", "configured", "expected"),
    [
        ("block", Action.BLOCK, Action.BLOCK),
        ("block", Action.BLOCK_SESSION, Action.BLOCK_SESSION),
        ("block", Action.WEBHOOK, Action.WEBHOOK),
        ("detect", Action.BLOCK, Action.LOG),
        ("detect", Action.BLOCK_SESSION, Action.LOG),
        ("detect", Action.WEBHOOK, Action.WEBHOOK),
    ],
)
def test_policy_downgrades_in_detect_mode(mode: str, configured: Action, expected: Action) -> None:
    settings = load_settings(mode=mode, detectors={"sql": {"action": configured.value}})
    decision = decide(settings, Detection("sql", "sql_injection", 1.0, "r", "e"))
    assert decision.action is expected
    assert decision.blocks == (expected in (Action.BLOCK, Action.BLOCK_SESSION))


def test_settings_from_env_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "guard.toml"
    toml.write_text('[guard]\nmode = "block"\n[guard.detectors.shell]\naction = "webhook"\n')
    monkeypatch.setenv("RAMPART_GUARD_DETECTORS__SQL__ACTION", "log")
    settings = load_settings(toml)
    assert settings.mode == "block"
    assert settings.policy_for("shell").action is Action.WEBHOOK
    assert settings.policy_for("sql").action is Action.LOG
    monkeypatch.setenv("RAMPART_GUARD_MODE", "detect")
    assert load_settings(toml).mode == "detect"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('mode = "loud"\n', "mode"),
        ('[detectors.sqll]\naction = "block"\n', "sqll"),
        ('[detectors.sql]\naction = "explode"\n', "detectors.sql.action"),
        ("mode = \n", "not valid TOML"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    toml = tmp_path / "guard.toml"
    toml.write_text(text)
    with pytest.raises(GuardConfigError) as info:
        load_settings(toml)
    assert str(toml) in str(info.value)
    assert fragment in str(info.value)


def test_guard_detection_blocked_property() -> None:
    settings = load_settings(mode="block")
    det = Detection("sql", "sql_injection", 1.0, "r", "e")
    assert GuardDetection(det, decide(settings, det), "sql", "x").blocked


@pytest.mark.parametrize(
    ("confidence", "expected"), [(0.5, Action.LOG), (0.8, Action.BLOCK), (0.95, Action.BLOCK)]
)
def test_min_confidence_downgrades_to_log(confidence: float, expected: Action) -> None:
    settings = load_settings(mode="block", detectors={"code": {"min_confidence": 0.8}})
    assert decide(settings, Detection("code", "code_injection", confidence, "r", "e")).action is expected


def test_detector_options_from_policy(make_guard) -> None:
    marker = "math.sqrt(16)"
    default = make_guard("block")
    with bind(request_ctx(expr=marker)):
        assert default.check("code", "compile", "code", marker) is None  # a calculator expression
    deactivate(default)
    strict = make_guard("block", detectors={"code": {"options": {"strict": True}}})
    with bind(request_ctx(expr=marker)), pytest.raises(Blocked):
        strict.check("code", "compile", "code", marker)


def test_options_from_env_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAMPART_GUARD_DETECTORS__TEMPLATE__OPTIONS", '{"level": "expressions"}')
    assert load_settings().policy_for("template").options == {"level": "expressions"}
