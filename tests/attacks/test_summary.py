"""Summary arithmetic checked against the per-case records it is computed from."""

from __future__ import annotations

import pytest

from rampart.attacks.replay.configs import CONFIGS
from rampart.attacks.replay.records import Record, read_records, write_records
from rampart.attacks.summary import summarize
from tests.attacks.replay.factory import CLASSES, record, synthetic

RECORDS = synthetic()
DETECT = [r for r in RECORDS if r.pass_name == "detect"]
ATTACKS = [r for r in DETECT if r.label == "attack"]
BENIGN = [r for r in DETECT if r.label == "benign"]
RESULTS = summarize(RECORDS, layers=["native", "crs", "rasp"])


def test_design_keys_present() -> None:
    assert set(RESULTS["corpus"]) >= {"attack", "benign", "base_payloads", "classes"}
    assert set(RESULTS["configs"]) == set(CONFIGS)
    for cfg in RESULTS["configs"].values():
        assert set(cfg["attacks"]) >= {"caught", "total"}
        assert set(cfg["working_exploits"]) >= {"stopped", "total"}
        assert set(cfg["benign"]) >= {"flagged", "total"}
        for pc in cfg["per_class"].values():
            assert set(pc) >= {"caught", "total", "stopped", "working"}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_caught_equals_non_allow_records(name: str) -> None:
    layers = CONFIGS[name].layers
    cfg = RESULTS["configs"][name]
    non_allow = [r for r in ATTACKS if any(r.verdicts[x].decision != "allow" for x in layers)]
    assert cfg["attacks"] == {"caught": len(non_allow), "total": len(ATTACKS)}
    flagged = [r for r in BENIGN if any(r.verdicts[x].decision != "allow" for x in layers)]
    assert cfg["benign"] == {"flagged": len(flagged), "total": len(BENIGN)}
    assert cfg["working_exploits"]["total"] == sum(r.worked for r in ATTACKS)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_per_class_adds_up(name: str) -> None:
    cfg = RESULTS["configs"][name]
    pcs = cfg["per_class"].values()
    assert set(cfg["per_class"]) == set(CLASSES)
    assert sum(p["total"] for p in pcs) == cfg["attacks"]["total"]
    assert sum(p["caught"] for p in pcs) == cfg["attacks"]["caught"]
    assert sum(p["working"] for p in pcs) == cfg["working_exploits"]["total"]
    assert sum(p["stopped"] for p in pcs) == cfg["working_exploits"]["stopped"]
    for p in pcs:
        assert p["stopped"] <= p["working"] <= p["total"]


def test_stopped_from_block_pass_or_detect_pass() -> None:
    cfgs = RESULTS["configs"]
    assert cfgs["none"]["working_exploits"]["stopped"] == 0
    assert cfgs["none"]["stopped_from"] == "none"
    # waf, rasp, waf+rasp ran a block pass; crs and crs+rasp did not
    for name in ("waf", "rasp", "waf+rasp"):
        assert cfgs[name]["stopped_from"] == "block_pass"
        working_flagged = [r for r in ATTACKS if r.worked and r.flagged_by(CONFIGS[name].layers)]
        assert cfgs[name]["working_exploits"]["stopped"] == len(working_flagged)
    for name in ("crs", "crs+rasp"):
        assert cfgs[name]["stopped_from"] == "detect_pass"
    assert cfgs["waf"]["block_pass"]["benign_blocked"] == sum(
        1 for r in BENIGN if r.flagged_by(("native",))
    ) + (0 if BENIGN[1].flagged_by(("native",)) else 1)


def test_block_pass_without_block_is_not_stopped() -> None:
    """A working exploit that fails to reproduce in the block pass without any layer blocking
    it is 'not reproduced', never 'stopped'."""
    recs = [
        record("a-1", native="detect", worked=True),
        record("a-1", native="allow", worked=False, pass_name="block:waf"),
    ]
    cfg = summarize(recs, configs=["waf"], layers=["native"])["configs"]["waf"]
    assert cfg["working_exploits"] == {"stopped": 0, "total": 1, "caught": 1}
    assert cfg["block_pass"]["working_not_reproduced"] == 1


def test_overlap_partitions_working_exploits() -> None:
    for name, layer in (("waf+rasp", "native"), ("crs+rasp", "crs")):
        groups = RESULTS["overlap"][name]["working_exploits"]
        working = [r for r in ATTACKS if r.worked]
        assert sum(groups.values()) == len(working)
        assert groups["both"] == sum(r.flagged_by((layer,)) and r.flagged_by(("rasp",)) for r in working)
        assert groups["neither"] == sum(not r.flagged_by((layer, "rasp")) for r in working)
    through = RESULTS["through_everything"]
    assert through["count"] == sum(r.worked and not r.flagged_by(("native", "crs", "rasp")) for r in ATTACKS)


def test_missing_layer_skips_config() -> None:
    res = summarize(RECORDS, layers=["native", "rasp"])
    assert "crs" not in res["configs"]
    assert "crs+rasp" not in res["configs"]
    assert "crs" in res["skipped"]["crs"]


def test_balanced_accuracy() -> None:
    cfg = RESULTS["configs"]["waf"]
    tpr = cfg["attacks"]["caught"] / cfg["attacks"]["total"]
    fpr = cfg["benign"]["flagged"] / cfg["benign"]["total"]
    assert cfg["over_attacks"]["balanced_accuracy"] == pytest.approx((tpr + 1 - fpr) / 2, abs=1e-4)


def test_records_roundtrip(tmp_path) -> None:
    path = tmp_path / "records.jsonl"
    assert write_records(path, RECORDS) == len(RECORDS)
    back = read_records(path)
    assert back == RECORDS
    assert '"pass": "detect"' in path.read_text().splitlines()[0]


def test_bad_records_name_the_line(tmp_path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(RECORDS[0].to_line() + "\n" + '{"pass": "detect"}\n')
    with pytest.raises(ValueError, match=r"records.jsonl:2"):
        read_records(path)


def test_record_type() -> None:
    assert isinstance(RECORDS[0], Record)


def test_stored_payload_stopped_when_its_page_is_blocked() -> None:
    """Stored XSS: the comment is stored either way; the sink guard stops it by blocking the
    page that would render it, which counts as stopped."""
    detect = record("sxss-1", cls="xss", rasp="detect", worked=True)
    again = record("sxss-1", cls="xss", rasp="block", worked=True, pass_name="block:rasp")
    delivered = summarize([detect, again], configs=["rasp"], layers=["rasp"])
    assert delivered["configs"]["rasp"]["working_exploits"]["stopped"] == 0
    blocked_page = again.model_copy(update={"follow_up_blocked": True})
    res = summarize([detect, blocked_page], configs=["rasp"], layers=["rasp"])
    assert res["configs"]["rasp"]["working_exploits"]["stopped"] == 1
    assert res["configs"]["rasp"]["block_pass"]["working_still_worked"] == 0
