from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.runner import load_targets, parse_locust_stats, run_load

STATS_HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
)


def test_parse_locust_stats_reads_the_aggregated_row(tmp_path: Path) -> None:
    csv_path = tmp_path / "x_stats.csv"
    csv_path.write_text(
        STATS_HEADER
        + "GET,GET /a,90,0,3,4,1,20,10,45.0,0,3,4,4,5,6,8,9,12,20,20,20\n"
        + ",Aggregated,100,4,3,4,1,30,10,50.5,2.0,3,4,4,5,6,9,10,14,30,30,30\n"
    )
    r = parse_locust_stats(csv_path, config="none", duration_s=2.0, users=4)
    assert (r.requests, r.failures, r.rps) == (100, 4, 50.5)
    assert (r.p50_ms, r.p95_ms, r.p99_ms) == (3.0, 9.0, 14.0)
    assert r.failure_ratio == 0.04


def test_parse_locust_stats_without_aggregate_names_the_file(tmp_path: Path) -> None:
    csv_path = tmp_path / "empty_stats.csv"
    csv_path.write_text(STATS_HEADER)
    with pytest.raises(ValueError, match=r"empty_stats\.csv"):
        parse_locust_stats(csv_path, config="none", duration_s=1.0, users=1)


def test_load_targets() -> None:
    assert load_targets("none, waf+rasp,nginx+crs") == ["none", "waf+rasp", "nginx+crs"]
    assert "crs+rasp" in load_targets("all")
    with pytest.raises(ValueError, match="bogus"):
        load_targets("none,bogus")


@pytest.mark.slow
async def test_real_locust_run_against_the_lab(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    results = await run_load(["none"], duration_s=3, users=4, out=out, progress=lambda _: None)
    r = results["none"]
    assert r.requests > 20
    assert r.failure_ratio == 0.0, "benign lab traffic must not fail"
    assert 0 < r.p50_ms <= r.p95_ms <= r.p99_ms
    saved = json.loads(out.read_text())
    assert saved["none"]["rps"] == r.rps
    assert saved["none"]["rps_ratio_vs_none"] == 1.0
