from __future__ import annotations

import json
from pathlib import Path

import pytest

from rampart.loadtests.runner import LoadResult, combine, load_targets, parse_locust_stats, run_load

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


def test_combine_sums_counts_and_takes_medians() -> None:
    a = LoadResult("waf", 100, 1, 50.0, 3.0, 9.0, 14.0, 0.01, 2.0, 4)
    b = LoadResult("waf", 300, 0, 70.0, 5.0, 11.0, 20.0, 0.0, 2.0, 4)
    c = LoadResult("waf", 200, 1, 60.0, 4.0, 10.0, 16.0, 0.005, 2.0, 4)
    r = combine([(a, 0.05), (b, 0.15), (c, 0.1)])
    assert (r.requests, r.failures, r.rounds) == (600, 2, 3)
    assert r.rps == 60.0
    assert r.rps_rounds == (50.0, 70.0, 60.0)
    assert (r.p50_ms, r.p95_ms, r.p99_ms) == (4.0, 10.0, 16.0)
    assert r.failure_ratio == round(2 / 600, 4)
    assert r.cpu_us_per_request == 500.0
    assert r.duration_s == 6.0


@pytest.mark.parametrize("out", ["load.json", "a-file"])
def test_load_out_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str) -> None:
    from rampart.cli import main

    target = tmp_path / out
    if out == "a-file":
        target.write_text("not a folder")
    assert main(["load", "--configs", "none", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "--out names a folder" in err
    assert "Traceback" not in err


@pytest.mark.slow
async def test_real_locust_run_alternates_rounds_and_keeps_locust_reports(tmp_path: Path) -> None:
    messages: list[str] = []
    results = await run_load(
        ["none", "rasp"], duration_s=2, users=4, rounds=2, out_dir=tmp_path, progress=messages.append
    )
    r = results["none"]
    assert r.requests > 20
    assert r.failure_ratio == 0.0, "benign lab traffic must not fail"
    assert 0 < r.p50_ms <= r.p95_ms <= r.p99_ms
    assert r.rounds == 2
    assert len(r.rps_rounds) == 2
    assert r.cpu_us_per_request is not None
    assert r.cpu_us_per_request > 0
    order = [m.split(": ", 1)[1].split(" ")[0] for m in messages if m.startswith("load round")]
    assert order == ["none", "rasp", "none", "rasp"]
    assert any("shares" in m or "same" in m for m in messages if m.startswith("warning:"))
    saved = json.loads((tmp_path / "load.json").read_text())
    assert saved["none"]["rps"] == r.rps
    assert saved["none"]["rps_ratio_vs_none"] == 1.0
    assert saved["rasp"]["cpu_us_per_request"] > 0
    meta = json.loads((tmp_path / "load-meta.json").read_text())
    assert "same" in meta["warnings"][0]
    for name in ("none-r1", "none-r2", "rasp-r1", "rasp-r2"):
        assert (tmp_path / "locust" / f"{name}_stats.csv").stat().st_size > 0
        assert "<html" in (tmp_path / "locust" / f"{name}.html").read_text().lower()


def test_summary_puts_cpu_per_request_beside_rps() -> None:
    from rampart.loadtests.cli import summary_table

    table = summary_table(
        {
            "none": LoadResult("none", 100, 0, 50.0, 3.0, 9.0, 14.0, 0.0, 2.0, 4, cpu_us_per_request=310.0),
            "waf": LoadResult("waf", 100, 0, 25.0, 3.0, 12.0, 14.0, 0.0, 2.0, 4, cpu_us_per_request=720.0),
        }
    )
    lines = table.splitlines()
    assert "CPU µs/req" in lines[0]
    assert lines[1].split() == ["none", "50.0", "9", "0.00%", "310", "1.00"]
    assert lines[2].split() == ["waf", "25.0", "12", "0.00%", "720", "0.50"]
