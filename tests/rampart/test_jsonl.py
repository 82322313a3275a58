"""JSON lines split at ``\\n`` only: U+2028, U+0085, ``\\r`` inside values survive a round trip."""

from __future__ import annotations

import json
from pathlib import Path

from rampart.attacks.cases import Case, HttpRequest
from rampart.attacks.cli import read_case_file
from rampart.attacks.importers import read_cases, write_jsonl
from rampart.attacks.replay.records import Record, read_records, write_records
from rampart.jsonl import dumps_line, iter_lines, read_lines, write_lines

TRICKY = "a\u2028b\u2029c\u0085d\x1ce\x1df\x1eg\x0bh\x0ci\rj"


def test_round_trip_keeps_line_separators(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    assert write_lines(path, [{"t": TRICKY}, {"t": "plain"}]) == 2
    assert "\u2028" in path.read_text(encoding="utf-8")  # written raw, not escaped
    assert len(path.read_text(encoding="utf-8").splitlines()) > 2  # what the old readers did
    lines = list(read_lines(path))
    assert [json.loads(line)["t"] for line in lines] == [TRICKY, "plain"]
    assert [line.lineno for line in lines] == [1, 2]
    assert "\n" not in dumps_line({"t": "x\ny"})


def test_blank_lines_are_skipped_with_line_numbers_kept() -> None:
    lines = list(iter_lines('{"a": 1}\n\n  \n{"a": 2}\r\n'))
    assert [(line.lineno, json.loads(line)) for line in lines] == [(1, {"a": 1}), (4, {"a": 2})]


def test_cases_and_records_survive_the_separators(tmp_path: Path) -> None:
    case = Case.model_validate(
        {
            "id": "t-1",
            "label": "benign",
            "endpoint": "L10",
            "request": HttpRequest(
                method="POST", path="/api/chat", body=json.dumps({"message": TRICKY}, ensure_ascii=False)
            ),
            "source": "traffic:x",
        }
    )
    path = tmp_path / "cases.jsonl"
    write_jsonl([case], path)
    assert read_case_file(path) == [case]
    assert read_cases(path).cases == [case]
    rec = Record(
        pass_name="detect", case_id="t-1", label="benign", endpoint="L10", request_id="r", request=TRICKY
    )
    write_records(tmp_path / "records.jsonl", [rec])
    assert read_records(tmp_path / "records.jsonl") == [rec]


def test_bad_case_lines_are_listed_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text('{"id": "x", "label": "attack"}\n', encoding="utf-8")
    result = read_cases(path)
    assert result.cases == []
    assert result.skipped[0].startswith("cases.jsonl:1: ")
