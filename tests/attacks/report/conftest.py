"""A report folder built from synthetic records (one per test module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampart.attacks.replay.runner import machine, versions, write_results
from rampart.attacks.report import write_report
from tests.attacks.replay.factory import record, synthetic

EVIL = '</pre><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def build_report(out: Path, *, load: bool = True) -> Path:
    records = synthetic()
    records.append(record("evil-001", cls="xss", native="allow", rasp="detect", worked=True, request=EVIL))
    meta = {
        "started_at": "2026-01-01T00:00:00+00:00",
        "duration_s": 1.0,
        "configs_requested": ["none", "waf", "crs", "rasp", "waf+rasp", "crs+rasp"],
        "layers_running": ["native", "crs", "rasp"],
        "passes": {"detect": {"cases": 69, "duration_s": 1.0, "cases_per_s": 69.0, "errors": 0}},
        "notes": ["synthetic <b>records</b>"],
        "versions": versions(),
        "machine": machine(),
    }
    if load:
        out.mkdir(parents=True, exist_ok=True)
        (out / "load.json").write_text(
            '{"none": {"rps": 900.0, "p50_ms": 3, "p95_ms": 9, "p99_ms": 20, "failure_ratio": 0.0},'
            ' "waf": {"rps": 600.5, "p50_ms": 5, "p95_ms": 14, "p99_ms": 30, "failure_ratio": 0.001}}'
        )
    write_results(out, records, meta)
    write_report(out)
    return out


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_report(tmp_path_factory.mktemp("report"))
