"""The go-ftw runner: how stages become requests and are classified, and a real replay of a
few CRS tests through the ``crs`` engine (libmodsecurity) and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from rampart.attacks.ftw.__main__ import main
from rampart.attacks.ftw.reader import FtwStage, FtwTest
from rampart.attacks.ftw.runner import CRS_VERSIONS, classify, family_of, load_tests, run, stage_request
from tests.conftest import need

STAGE = FtwStage(
    method="POST",
    uri="/a?b=1",
    version="HTTP/1.0",
    headers=(("Host", "localhost"),),
    body=b"x=1",
    raw_request=None,
    expect_ids=frozenset({942100}),
    no_expect_ids=frozenset(),
    expect_status=(),
    expect_error=False,
)


def _test(stage: FtwStage, folder: str = "REQUEST-942-APPLICATION-ATTACK-SQLI") -> FtwTest:
    return FtwTest("942100-1", 942100, Path(folder) / "942100.yaml", "", (stage,), 1)


def test_a_declared_stage_becomes_its_request() -> None:
    request = stage_request(STAGE, "id-1")
    assert (request.method, request.target, request.http_version) == ("POST", "/a?b=1", "1.0")
    assert request.body == b"x=1"
    assert request.request_id == "id-1"


def test_a_raw_request_is_parsed_into_method_target_headers_and_body() -> None:
    raw = b"GET /x?q=%ff HTTP/1.1\r\nHost: h\r\nX-A:  b \r\n\r\nbody\r\n"
    request = stage_request(replace(STAGE, raw_request=raw))
    assert request.method == "GET"
    assert request.target == "/x?q=%ff"
    assert request.headers == (("Host", "h"), ("X-A", "b"))
    assert request.body == b"body\r\n"
    lf_only = stage_request(replace(STAGE, raw_request=b"PUT / HTTP/1.0\nHost: h\n\nz"))
    assert (lf_only.method, lf_only.body, lf_only.http_version) == ("PUT", b"z", "1.0")


def test_an_unparsable_raw_request_is_an_error() -> None:
    with pytest.raises(ValueError, match="request line"):
        stage_request(replace(STAGE, raw_request=b"\r\n\r\n"))


def test_classification() -> None:
    assert classify(_test(STAGE), STAGE) == "attack"
    benign = replace(STAGE, expect_ids=frozenset(), no_expect_ids=frozenset({942100}))
    assert classify(_test(benign), benign) == "benign"
    server = replace(STAGE, expect_ids=frozenset(), expect_status=(400,))
    assert classify(_test(server), server) == "server"
    erroring = replace(benign, expect_error=True)
    assert classify(_test(erroring), erroring) == "server"
    assert classify(_test(STAGE, "RESPONSE-951-DATA-LEAKAGES-SQL"), STAGE) == "response"
    assert family_of(_test(STAGE)) == "942"


@pytest.mark.system
def test_crs_replays_a_few_sql_injection_tests() -> None:
    version = CRS_VERSIONS["3.3.4"]
    need(version.tests.is_dir(), "CRS 3.3.4 regression tests")
    need((version.crs_dir / "rules").is_dir(), "Debian modsecurity-crs")
    tests = [t for t in load_tests(version) if t.rule_id == 942100]
    report = run("crs", "3.3.4", tests=tests)
    overall = report.overall()
    assert overall.attack_total == sum(1 for t in tests for s in t.stages if s.expect_ids)
    assert overall.attack_passed == overall.attack_total
    assert set(report.families()) == {"942"}


@pytest.mark.system
def test_cli_writes_the_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need((CRS_VERSIONS["3.3.4"].crs_dir / "rules").is_dir(), "Debian modsecurity-crs")
    out = tmp_path / "crs.json"
    assert main(["--engine", "crs", "--crs-version", "3.3.4", "--rule", "9111", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["engine"] == "crs"
    assert report["overall"]["attack_passed"] == report["overall"]["attack_total"] > 0
    assert main(["--engine", "crs", "--rule", "9111", "--reference", str(out)]) == 0
    assert "of the stages the reference passes" in capsys.readouterr().out
