"""``rampart rules test``: a rule file's own examples run through a real engine, one PASS/FAIL
line per rule, a non-zero exit on any failure; exclusion and SecLang files are loaded and their
errors named with file and line; ``--ftw`` replays a go-ftw folder through the seclang engine."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from rampart.cli import build_parser, main
from rampart.gateway.engines.native.ruleset import load_rules

Cap = pytest.CaptureFixture[str]

RULE = """\
class: xss
id_range: [57000, 57999]
rules:
  - id: 57001
    message: team marker
    severity: critical
    tags: [team]
    targets: [ARGS]
    operator: contains
    argument: team-marker
    examples:
      attack: ["x team-marker y", {{target: "/p?a=team-marker"}}]
      benign: [{benign}]
"""


def _run(capsys: Cap, *args: str) -> tuple[int, list[str]]:
    code = main(["rules", "test", *args])
    return code, capsys.readouterr().out.splitlines()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_rules_all_pass(capsys: Cap) -> None:
    code, lines = _run(capsys)
    assert code == 0
    rules = load_rules()
    assert sum(1 for line in lines if line.startswith("PASS ")) == len(rules)
    assert lines[-1] == f"rampart rules test: {len(rules)} passed, 0 failed"


def test_rules_above_the_paranoia_level_are_skipped(capsys: Cap) -> None:
    code, lines = _run(capsys, "--paranoia", "1")
    assert code == 0
    rules = load_rules()
    above = [r for r in rules if r.spec.paranoia > 1]
    assert above
    assert sum(1 for line in lines if line.startswith("SKIP ")) == len(above)
    assert lines[-1] == (
        f"rampart rules test: {len(rules) - len(above)} passed, 0 failed, {len(above)} skipped"
    )


def test_the_test_action_shows_its_defaults() -> None:
    def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return dict(action.choices)

    parser = subparsers(subparsers(build_parser())["rules"])["test"]
    formatter = parser._get_formatter()
    options = [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS]
    assert len(options) == 6
    for action in options[1:]:  # after --help
        assert "(default: " in formatter._expand_help(action), action.option_strings


def test_a_team_rule_file_passes(tmp_path: Path, capsys: Cap) -> None:
    path = _write(tmp_path, "team.yaml", RULE.format(benign='"plain words"'))
    code, lines = _run(capsys, str(path))
    assert code == 0
    assert lines[0] == f"PASS 57001 team marker ({path}:4) [2 attack, 1 benign]"


def test_a_benign_example_that_fires_fails_the_run(tmp_path: Path, capsys: Cap) -> None:
    path = _write(tmp_path, "team.yaml", RULE.format(benign='"my team-marker"'))
    code, lines = _run(capsys, str(tmp_path))
    assert code == 1
    assert lines[0].startswith(f"FAIL 57001 team marker ({path}:4)")
    assert "fired on benign example 1 'my team-marker'" in lines[0]
    assert lines[-1] == "rampart rules test: 0 passed, 1 failed"


def test_a_missed_attack_and_a_missing_benign_example(tmp_path: Path, capsys: Cap) -> None:
    text = RULE.format(benign='"x"').replace('"x team-marker y"', '"nothing here"')
    text = text.replace('      benign: ["x"]\n', "")
    _write(tmp_path, "team.yaml", text)
    code, lines = _run(capsys, str(tmp_path), "--quiet")
    assert code == 1
    assert "no benign example (add examples.benign)" in lines[0]
    assert "missed attack example 1 'nothing here'" in lines[0]


def test_an_invalid_rule_file_names_file_line_and_fix(tmp_path: Path, capsys: Cap) -> None:
    path = _write(tmp_path, "team.yaml", RULE.format(benign='"x"').replace("contains", "containz"))
    code, lines = _run(capsys, str(path))
    assert code == 1
    assert lines[0].startswith(f"FAIL {path}: {path}:4: rule 57001: ")
    assert "unknown operator 'containz'" in lines[0]
    assert "Fix:" in lines[0]


def test_duplicate_ids_across_files_name_both(tmp_path: Path, capsys: Cap) -> None:
    first = _write(tmp_path, "a.yaml", RULE.format(benign='"x"'))
    second = _write(tmp_path, "b.yaml", RULE.format(benign='"x"'))
    code, lines = _run(capsys, str(first), str(second))
    assert code == 1
    assert f"FAIL {second}:4: rule 57001: duplicate id, already used at {first}:4" in lines


def test_exclusion_files_both_forms(tmp_path: Path, capsys: Cap) -> None:
    good_yaml = _write(tmp_path, "ex.yaml", "exclusions:\n  - route: /api/render\n    rule_ids: [9006]\n")
    good_conf = _write(
        tmp_path,
        "ex.conf",
        'SecRuleRemoveById 941100\nSecRuleUpdateTargetById 942100 "!ARGS:password"\n'
        'SecRule REQUEST_FILENAME "@beginsWith /api" '
        '"id:1001,phase:1,pass,nolog,ctl:ruleRemoveById=941110"\n',
    )
    code, lines = _run(capsys, str(good_yaml), str(good_conf))
    assert code == 0
    assert lines[0] == f"PASS {good_yaml}: YAML exclusions load: 1 entries"
    assert lines[1] == f"PASS {good_conf}: SecLang loads: 1 rules, 1 removals, 1 target/action updates"

    bad_yaml = _write(tmp_path, "bad.yaml", "exclusions:\n  - route: /a\n    classes: [nope]\n")
    bad_conf = _write(tmp_path, "bad.conf", '# tuning\nSecRule ARGS "@rx (" "id:1002,phase:2,pass"\n')
    code, lines = _run(capsys, str(bad_yaml), str(bad_conf))
    assert code == 1
    assert lines[0].startswith(f"FAIL {bad_yaml}: {bad_yaml}:2: exclusion 1: ")
    assert lines[1].startswith(f"FAIL {bad_conf}: {bad_conf}:2: rule 1002: ")


def test_missing_path_fails(tmp_path: Path, capsys: Cap) -> None:
    code, lines = _run(capsys, str(tmp_path / "nope.yaml"))
    assert code == 1
    assert lines[0] == f"FAIL {tmp_path / 'nope.yaml'}: no such file or folder"


FTW = """\
meta:
  author: team
  enabled: true
rule_id: 1100001
tests:
  - test_id: 1
    stages:
      - input:
          dest_addr: 127.0.0.1
          port: 80
          method: GET
          uri: "/?q=team-marker"
          headers:
            Host: localhost
            User-Agent: rampart tests
            Accept: "*/*"
        output:
          log:
            expect_ids: [1100001]
  - test_id: 2
    stages:
      - input:
          dest_addr: 127.0.0.1
          port: 80
          method: GET
          uri: "/?q=plain"
          headers:
            Host: localhost
            User-Agent: rampart tests
            Accept: "*/*"
        output:
          log:
            no_expect_ids: [1100001]
  - test_id: 3
    stages:
      - input:
          dest_addr: 127.0.0.1
          port: 80
          method: GET
          uri: "/?q=other"
          headers:
            Host: localhost
            User-Agent: rampart tests
            Accept: "*/*"
        output:
          log:
            expect_ids: [1100001]
"""


@pytest.mark.system
def test_ftw_folder_runs_through_the_seclang_engine(crs_dir: Path, tmp_path: Path, capsys: Cap) -> None:
    rule = _write(
        tmp_path,
        "team.conf",
        'SecRule ARGS "@contains team-marker" "id:1100001,phase:2,pass,log,msg:\'team marker\'"\n',
    )
    tests = tmp_path / "ftw"
    tests.mkdir()
    _write(tests, "1100001.yaml", FTW)
    code, lines = _run(capsys, str(rule), "--ftw", str(tests), "--crs", str(crs_dir), "--paranoia", "1")
    assert code == 1
    assert "PASS ftw 1100001-1" in lines
    assert "PASS ftw 1100001-2" in lines
    assert "FAIL ftw 1100001-3: expected rules did not fire: 1100001" in lines


def test_rules_without_an_action_prints_help_and_exits_2(capsys: Cap) -> None:
    assert main(["rules"]) == 2
    assert "test" in capsys.readouterr().err
