"""The replay CLI surface: option parsing, case files, slicing, targets, import wiring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rampart.attacks.cases import Case
from rampart.attacks.cli import read_case_file
from rampart.attacks.replay.configs import CONFIGS, parse_configs
from rampart.attacks.replay.runner import parse_targets, select_slice
from rampart.cli import main


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        (None, list(CONFIGS)),
        ("all", list(CONFIGS)),
        ("rasp,none", ["none", "rasp"]),
        ("crs+rasp, waf", ["waf", "crs+rasp"]),
    ],
)
def test_parse_configs(spec: str | None, names: list[str]) -> None:
    assert [c.name for c in parse_configs(spec)] == names


def test_parse_configs_unknown() -> None:
    with pytest.raises(ValueError, match="unknown configuration"):
        parse_configs("waf,modsec")


@pytest.mark.parametrize(
    ("name", "layers"),
    [
        ("none", ()),
        ("waf", ("native",)),
        ("crs", ("crs",)),
        ("rasp", ("rasp",)),
        ("waf+rasp", ("native", "rasp")),
        ("crs+rasp", ("crs", "rasp")),
    ],
)
def test_config_layers(name: str, layers: tuple[str, ...]) -> None:
    assert CONFIGS[name].layers == layers


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("gateway=http://127.0.0.1:1", "at least lab="),
        ("lab=127.0.0.1:1", "NAME=http"),
        ("lab=http://127.0.0.1:1,Mod Sec=http://127.0.0.1:2", "bad target name"),
        ("lab=http://127.0.0.1:1,none=http://127.0.0.1:2", "bad target name"),
    ],
)
def test_parse_targets_errors(spec: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_targets(spec)


def test_other_target_names_are_peers() -> None:
    t = parse_targets("lab=http://127.0.0.1:1,cloudwaf=http://127.0.0.1:5/,zen.asgi=http://127.0.0.1:6")
    assert t.peers == {"cloudwaf": "http://127.0.0.1:5", "zen.asgi": "http://127.0.0.1:6"}
    assert "cloudwaf" not in t.urls


def test_targets_block_hops() -> None:
    t = parse_targets("lab=http://127.0.0.1:1/,block-lab=http://127.0.0.1:2,waf+rasp=http://127.0.0.1:3")
    assert t.block_target(CONFIGS["rasp"]) == ("http://127.0.0.1:2", "http://127.0.0.1:2")
    assert t.block_target(CONFIGS["waf+rasp"]) == ("http://127.0.0.1:3", "http://127.0.0.1:2")
    assert t.block_target(CONFIGS["waf"]) is None


@pytest.mark.parametrize(("n", "expected"), [(None, 10), (0, 0), (3, 3), (10, 10), (50, 10)])
def test_select_slice_is_deterministic_and_spread(n: int | None, expected: int) -> None:
    items = [_case(f"c-{i}") for i in range(10)]
    picked = select_slice(items, n)
    assert len(picked) == expected
    assert picked == select_slice(items, n)
    if n == 3:
        assert [c.id for c in picked] == ["c-0", "c-3", "c-6"]


def _case(cid: str) -> Case:
    return Case.model_validate(
        {
            "id": cid,
            "label": "benign",
            "endpoint": "L8",
            "request": {"path": "/greet", "query": [["name", cid]]},
        }
    )


def test_case_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(_case("ok-1").dump()) + "\n" + '{"id": "x", "label": "attack"}\n')
    with pytest.raises(ValueError, match=r"cases.jsonl:2"):
        read_case_file(path)


def test_replay_bad_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--configs", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown configuration" in capsys.readouterr().out


def test_import_writes_replayable_cases(tmp_path: Path) -> None:
    har = {
        "log": {
            "version": "1.2",
            "entries": [
                {
                    "request": {
                        "method": "GET",
                        "url": "http://127.0.0.1:8000/greet?name=Ann",
                        "headers": [],
                        "queryString": [],
                    },
                    "response": {"status": 200},
                }
            ],
        }
    }
    src = tmp_path / "capture.har"
    src.write_text(json.dumps(har))
    out = tmp_path / "cases.jsonl"
    assert main(["import", str(src), "--out", str(out)]) == 0
    cases = read_case_file(out)
    assert len(cases) == 1
    assert cases[0].endpoint == "L8"
    assert cases[0].label == "benign"


def test_import_bad_file_exit_2(tmp_path: Path) -> None:
    src = tmp_path / "nope.har"
    src.write_text("not a capture")
    assert main(["import", str(src)]) == 2
