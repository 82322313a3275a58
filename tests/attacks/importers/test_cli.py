"""``rampart import`` on suites: formats detected, skipped entries reported, sources counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampart.attacks.cli import read_case_file
from rampart.cli import main

DATA = Path(__file__).parent / "data"


def test_import_gotestwaf_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "gtw.jsonl"
    assert main(["import", str(DATA / "gotestwaf"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    cases = read_case_file(out)
    assert {c.source for c in cases} == {"gotestwaf:owasp", "gotestwaf:false-pos"}
    assert "skipped ldap-injection.yml: encoder 'Rot13' unknown" in err
    assert f"{len(cases)} cases (gotestwaf:false-pos, gotestwaf:owasp), 46 skipped, 0 flagged" in err


def test_import_payload_list_needs_a_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = DATA / "lists" / "probes.txt"
    assert main(["import", str(src)]) == 2
    assert "pass --class" in capsys.readouterr().err
    out = tmp_path / "probes.jsonl"
    assert main(["import", str(src), "--class", "path_traversal", "--out", str(out)]) == 0
    assert [c.endpoint for c in read_case_file(out)] == ["L7", "L7"]


def test_replay_with_a_missing_suite_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    assert main(["replay", "--suite", str(missing), "--configs", "none", "--out", str(tmp_path / "r")]) == 2
    assert f"{missing}: no such file or folder" in capsys.readouterr().out
