"""The go-ftw reader on CRS's own regression files (both flavours) and on small files that
pin down how a request is built and how a broken file is reported."""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path

import pytest

from rampart.attacks.ftw import FtwFormatError, apply_overrides, load_dir, load_file, load_overrides
from tests.conftest import need

CRS = Path("/work/shared/crs")
V3 = CRS / "v3.3.4/tests/regression/tests"
V4 = CRS / "v4.28.0/tests/regression/tests"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "900001.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.system
def test_every_crs_334_file_loads_with_its_counts() -> None:
    need(V3.is_dir(), "CRS 3.3.4 regression tests in /work/shared/crs")
    tests = load_dir(V3)
    per_folder = Counter(t.file.parent.name for t in tests)
    assert len(tests) == 2396
    assert per_folder["REQUEST-942-APPLICATION-ATTACK-SQLI"] == 520
    assert per_folder["REQUEST-920-PROTOCOL-ENFORCEMENT"] == 222
    assert all(t.stages for t in tests)
    assert sum(1 for t in tests for s in t.stages if s.raw_request is not None) == 3
    first = next(t for t in tests if t.title == "920330-1")
    assert first.rule_id == 920330
    assert first.stages[0].expect_ids == frozenset({920330})


@pytest.mark.system
def test_every_crs_428_file_loads_with_its_counts() -> None:
    need(V4.is_dir(), "CRS 4.28.0 regression tests in /work/shared/crs")
    tests = load_dir(V4)
    per_folder = Counter(t.file.parent.name for t in tests)
    assert len(tests) == 5003
    assert per_folder["REQUEST-932-APPLICATION-ATTACK-RCE"] == 934
    assert per_folder["REQUEST-944-APPLICATION-ATTACK-JAVA"] == 1173
    by_title = {t.title: t for t in tests}
    ok = by_title["920100-1"].stages[0]
    assert ok.no_expect_ids == frozenset({920100})
    assert ok.method == "GET"
    assert ok.uri == "/get"
    assert by_title["920100-2"].stages[0].expect_status == (400,)


@pytest.mark.system
def test_overrides_files_load_and_apply() -> None:
    need(V4.is_dir(), "CRS 4.28.0 regression tests in /work/shared/crs")
    overrides = load_overrides(V4.parent / "nginx-overrides.yaml")
    assert len(overrides) == 24
    tests = apply_overrides(load_file(V4 / "REQUEST-920-PROTOCOL-ENFORCEMENT/920100.yaml"), overrides)
    by_id = {t.test_id: t for t in tests}
    assert by_id[4].stages[0].expect_status == (400,)
    assert by_id[8].stages[0].no_expect_ids == frozenset({920100})
    assert by_id[1].stages[0].expect_status == ()


def test_v3_stage_autocompletes_headers_and_joins_data_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
meta: {enabled: true}
tests:
  - test_title: 900001-1
    stages:
      - stage:
          input:
            method: POST
            headers: {Host: localhost, User-Agent: t}
            data: ["a=1", "b=2"]
          output:
            log_contains: id "900001"
            status: [403, 400]
""",
    )
    (test,) = load_file(path)
    stage = test.stages[0]
    assert stage.body == b"a=1\r\nb=2"
    assert stage.header("content-length") == "8"
    assert stage.header("content-type") == "application/x-www-form-urlencoded"
    assert stage.header("Connection") == "close"
    assert stage.expect_ids == frozenset({900001})
    assert stage.expect_status == (403, 400)
    assert (stage.method, stage.uri, stage.version) == ("POST", "/", "HTTP/1.1")


def test_stop_magic_and_autocomplete_off_send_headers_as_written(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
rule_id: 900001
tests:
  - test_id: 3
    stages:
      - input: {headers: {Host: x}, data: "abc", autocomplete_headers: false}
        output: {log: {no_expect_ids: [900001, 900002]}}
  - test_id: 4
    stages:
      - input: {headers: {Host: x}, data: "abc", stop_magic: true}
        output: {log: {expect_ids: [900001]}}
""",
    )
    off, magic = load_file(path)
    assert off.title == "900001-3"
    assert off.test_id == 3
    assert off.stages[0].headers == (("Host", "x"),)
    assert off.stages[0].no_expect_ids == frozenset({900001, 900002})
    assert magic.stages[0].headers == (("Host", "x"),)


def test_encoded_request_is_decoded(tmp_path: Path) -> None:
    raw = b"GET /?a=\xff HTTP/1.1\r\nHost: x\r\n\r\n"
    path = _write(
        tmp_path,
        f"""
tests:
  - test_title: 900001-1
    stages:
      - stage:
          input: {{encoded_request: "{base64.b64encode(raw).decode()}"}}
          output: {{expect_error: true}}
""",
    )
    (test,) = load_file(path)
    assert test.stages[0].raw_request == raw
    assert test.stages[0].expect_error


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("tests: [{test_title: 900001-1}]", "stages: is missing"),
        ("tests: [{test_title: 900001-1, stages: [{stage: {output: {status: abc}}}]}]", "status 'abc'"),
        ("tests: {a: 1}", "tests: is missing"),
        ("tests: [x", "invalid YAML"),
        (
            "rule_id: 900001\ntests: [{test_id: 1, stages: [{output: {log: {expect_ids: [x]}}}]}]",
            "expect_ids",
        ),
    ],
)
def test_broken_files_name_file_test_and_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(FtwFormatError) as info:
        load_file(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


def test_comment_only_file_has_no_tests(tmp_path: Path) -> None:
    assert load_file(_write(tmp_path, "# nothing here\n")) == ()
