"""End to end: a slice of the real corpus through the real lab, gateway and sink guard
(configurations none, waf, rasp), detect pass plus block passes."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from rampart.attacks.cases import Case
from rampart.attacks.corpus import corpus_stats, load_cases
from rampart.attacks.replay.records import read_records
from rampart.attacks.replay.runner import ReplayOptions, parse_targets, replay, select_slice
from tests.attacks.replay.procscan import TAG_VAR, tagged_pids

pytestmark = [pytest.mark.slow]


def _cases() -> list[Case]:
    attacks = load_cases(include_benign=False, limit_per_class=3, seed=0)
    benign = select_slice(load_cases(include_attacks=False, seed=0), 15)
    return attacks + benign


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], list[Case]]:
    out = tmp_path_factory.mktemp("replay")
    tag = uuid.uuid4().hex
    os.environ[TAG_VAR] = tag
    cases = _cases()
    import asyncio

    try:
        result = asyncio.run(
            replay(
                cases,
                ReplayOptions(configs=("none", "waf", "rasp"), out_dir=out, concurrency=8),
                corpus=corpus_stats(cases),
            )
        )
    finally:
        del os.environ[TAG_VAR]
    assert tagged_pids(tag) == [], "processes started by the replay are still running"
    return out, result.results, cases


def test_files_and_design_keys(run) -> None:
    out, results, cases = run
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["corpus"] == results["corpus"]
    assert set(on_disk["corpus"]) >= {"attack", "benign", "base_payloads", "classes"}
    assert set(on_disk["configs"]) == {"none", "waf", "rasp"}
    for cfg in on_disk["configs"].values():
        assert {"attacks", "working_exploits", "benign", "per_class"} <= set(cfg)
    assert on_disk["corpus"]["attack"] + on_disk["corpus"]["benign"] == len(cases)


def test_every_case_has_every_layer_verdict(run) -> None:
    out, _, cases = run
    detect = [r for r in read_records(out / "records.jsonl") if r.pass_name == "detect"]
    assert [r.case_id for r in detect] == [c.id for c in cases]
    missing = [r.case_id for r in detect if {"native", "rasp"} - set(r.verdicts) and r.error is None]
    assert missing == []
    assert sum(r.status is None for r in detect) == 0


def test_oracle_confirms_working_exploits(run) -> None:
    out, results, _ = run
    detect = [r for r in read_records(out / "records.jsonl") if r.pass_name == "detect"]
    working = [r for r in detect if r.label == "attack" and r.worked]
    assert len(working) >= 5, "the unprotected lab should be exploitable by most classes"
    assert not any(r.worked for r in detect if r.label == "benign")
    assert results["configs"]["none"]["working_exploits"]["total"] == len(working)


def test_summary_matches_records(run) -> None:
    out, results, _ = run
    records = read_records(out / "records.jsonl")
    detect = [r for r in records if r.pass_name == "detect"]
    for name, layers in (("waf", ("native",)), ("rasp", ("rasp",))):
        cfg = results["configs"][name]
        caught = sum(
            r.label == "attack" and any(r.verdicts[x].decision != "allow" for x in layers if x in r.verdicts)
            for r in detect
        )
        assert cfg["attacks"]["caught"] == caught
        assert cfg["stopped_from"] == "block_pass"
        block = {r.case_id: r for r in records if r.pass_name == f"block:{name}"}
        working = [r for r in detect if r.label == "attack" and r.worked]
        assert set(block) >= {r.case_id for r in working}
        stopped = [
            r for r in working if not block[r.case_id].delivered and block[r.case_id].blocked_by(layers)
        ]
        assert cfg["working_exploits"]["stopped"] == len(stopped)
    assert results["configs"]["rasp"]["working_exploits"]["stopped"] > 0


async def test_targets_reuse_running_servers(tmp_path: Path) -> None:
    """``--targets``: nothing is started; the detect pass and the rasp block pass go to the
    servers given, and a configuration without a block-pass target falls back to detect."""
    from rampart.procs import spawn

    cases = select_slice(_cases(), 12)
    async with (
        spawn(["lab", "--port", "0", "--guard", "detect", "--harness"]) as lab,
        spawn(["lab", "--port", "0", "--guard", "block", "--harness"]) as block_lab,
    ):
        targets = parse_targets(f"lab={lab.url},block-lab={block_lab.url}")
        result = await replay(
            cases,
            ReplayOptions(configs=("none", "waf", "rasp"), out_dir=tmp_path, targets=targets, concurrency=4),
        )
    configs = result.results["configs"]
    assert set(configs) == {"none", "rasp"}
    assert "waf" in result.results["skipped"]
    assert configs["rasp"]["stopped_from"] == "block_pass"
    assert {r.pass_name for r in result.records} == {"detect", "block:rasp"}
