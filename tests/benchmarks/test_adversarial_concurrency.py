"""The adversarial concurrency benchmark's pieces: bodies of the stated size, a readable table."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from benchmarks.adversarial_concurrency import _ADVERSARIAL, Row, _body, _report


@pytest.mark.parametrize(("unit", "kind", "size"), _ADVERSARIAL)
def test_bodies_have_the_stated_size_and_parse(unit: str, kind: str, size: int) -> None:
    body, content_type = _body(unit, kind, size)
    assert len(body) == size
    if kind == "json":
        assert content_type == "application/json"
        assert set(json.loads(body)["q"]) <= set(unit)
    else:
        assert content_type == "application/x-www-form-urlencoded"
        assert body.startswith(b"q=" + unit.encode())
        assert parse_qs(body.decode())["q"]


def test_the_report_has_one_line_per_row_with_percentiles() -> None:
    rows = [
        Row("idle", "process", 250.0, 200, 0.0, tuple(i / 1000 for i in range(1, 101))),
        Row("1024 KiB json of '<a'", "thread", 0.0, 200, 1.5, (0.002, 0.004)),
        Row("1024 KiB form of '%25'", "process", 250.0, 403, 0.31, (0.002,), "gateway", 1),
    ]
    table = _report(rows).splitlines()
    assert "shared" in table[1]
    idle = next(line for line in table if line.startswith("idle"))
    assert idle.split()[1:] == ["process", "250ms", "200", "-", "100", "50.50", "96.00", "100.00", "-", "0"]
    heavy = next(line for line in table if line.startswith("1024 KiB json"))
    assert "none" in heavy
    assert "thread" in heavy
    assert "1.500" in heavy
    cut = next(line for line in table if line.startswith("1024 KiB form"))
    assert cut.split()[-2:] == ["gateway", "1"]
