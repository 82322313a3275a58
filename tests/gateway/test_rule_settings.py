"""Rule settings a team uses: ``--rules``/``--crs``/``--exclusions`` flags and their config keys,
exclusions in SecLang form for the seclang and crs engines, and the errors that name the fix."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import cast

import pytest

from rampart.attacks.ftw.runner import FiringEngine
from rampart.cli import build_parser
from rampart.gateway.cli import _overrides, _settings
from rampart.gateway.config import ConfigError, load_settings
from rampart.gateway.engines import create_engine
from rampart.gateway.engines.crs.config import CrsLayoutError, resolve_layout
from rampart.gateway.model import EngineSettings, RawRequest
from tests.conftest import need

HEADERS = (("Host", "localhost"), ("User-Agent", "rampart tests"), ("Accept", "*/*"))
XSS = "/?q=%3Cscript%3Ealert(1)%3C/script%3E"
SQLI_IN_PASSWORD = "/?password=1%27%20OR%201%3D1--"
SQLI_IN_Q = "/?q=1%27%20OR%201%3D1--"

# The SecLang exclusion forms: a rule removed everywhere, a target removed from one rule, a
# rule removed on one route at run time, a parameter removed from a rule family on one route.
SECLANG_EXCLUSIONS = """\
SecRuleRemoveById 941100
SecRuleUpdateTargetById 942100 "!ARGS:password"
SecRule REQUEST_FILENAME "@beginsWith /api/render" \\
    "id:1001,phase:1,pass,nolog,t:none,ctl:ruleRemoveById=941110"
SecRule REQUEST_FILENAME "@beginsWith /api/comments" \\
    "id:1002,phase:1,pass,nolog,t:none,ctl:ruleRemoveTargetByTag=attack-xss;ARGS:text"
"""
XSS_RULES = frozenset({941100, 941110, 941160})


def _gateway_args(*extra: str) -> dict[str, object]:
    args = build_parser().parse_args(["gateway", "--upstream", "http://127.0.0.1:9", *extra])
    return _overrides(args)


def test_flags_set_rule_folder_crs_and_exclusions(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        'upstream = "http://127.0.0.1:9"\nengines = ["native", "seclang"]\n'
        '[engine]\nbudget_ms = 40\nexclusions = ["from-file.yaml"]\n',
        encoding="utf-8",
    )
    overrides = _gateway_args(
        "--rules", "/srv/rules", "--crs", "/srv/crs", "--crs-setup", "/srv/crs/setup.conf",
        "--exclusions", "a.yaml", "--exclusions", "b.conf", "--config", str(config),
    )  # fmt: skip
    settings = _settings(str(config), overrides)
    engine = settings.engine
    assert engine.rules_dir == "/srv/rules"
    assert engine.shipped_rules is True
    assert engine.crs_dir == "/srv/crs"
    assert engine.crs_setup == "/srv/crs/setup.conf"
    assert engine.exclusions == ("a.yaml", "b.conf")  # the flag's list replaces the file's
    assert engine.budget_ms == 40  # the rest of the section still comes from the file
    handed = settings.engine_settings()
    assert (handed.rules_dir, handed.shipped_rules) == ("/srv/rules", True)
    assert handed.exclusions == ("a.yaml", "b.conf")


def test_without_flags_the_config_file_decides(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        'upstream = "http://127.0.0.1:9"\n[engine]\nrules_dir = "/srv/rules"\nshipped_rules = false\n'
        'exclusions = ["x.yaml"]\n',
        encoding="utf-8",
    )
    settings = _settings(str(config), _gateway_args("--config", str(config)))
    assert (settings.engine.rules_dir, settings.engine.shipped_rules) == ("/srv/rules", False)
    assert settings.engine.exclusions == ("x.yaml",)
    flagged = _settings(str(config), _gateway_args("--config", str(config), "--no-shipped-rules"))
    assert flagged.engine.shipped_rules is False


def test_exclusions_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAMPART_GATEWAY_ENGINE__EXCLUSIONS", "one.yaml, two.yml")
    assert load_settings(upstream="http://127.0.0.1:9").engine.exclusions == ("one.yaml", "two.yml")


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--exclusions", "tuning.txt"], "name YAML exclusions *.yaml"),
        (["--engine", "rules", "--exclusions", "crs.conf"], "only the native, seclang, crs engines read"),
        (["--engine", "seclang", "--exclusions", "x.yaml"], "only the native, rules engines read"),
        (["--no-shipped-rules"], "needs rules_dir (--rules DIR)"),
    ],
)
def test_bad_rule_settings_name_the_fix(flags: list[str], problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        _settings(None, _gateway_args(*flags))
    assert problem in str(err.value)


def test_help_shows_every_rule_flag_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["gateway", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, default in [
        ("--rules DIR", "(default: none, the shipped rules only)"),
        ("--no-shipped-rules", "(default: shipped rules on)"),
        ("--crs DIR", "(default: /usr/share/modsecurity-crs)"),
        ("--crs-setup FILE", "(default: DIR/crs-setup.conf"),
        ("--exclusions FILE", "repeatable"),
    ]:
        assert flag in text
        assert default in text.split(flag, 1)[1]


def test_missing_seclang_exclusions_file_is_named(crs_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    with pytest.raises(CrsLayoutError, match=f"{missing}: SecLang exclusions file not found"):
        resolve_layout(EngineSettings(crs_dir=str(crs_dir), exclusions=(str(missing),)))


def test_seclang_exclusions_load_after_the_before_crs_file(crs_dir: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.conf", tmp_path / "b.conf"
    first.write_text("SecRuleRemoveById 941100\n")
    second.write_text("SecRuleRemoveById 941110\n")
    layout = resolve_layout(
        EngineSettings(crs_dir=str(crs_dir), exclusions_file=str(first), exclusions=(str(second), "x.yaml"))
    )
    assert layout.exclusion_files == (first, second)
    assert layout.before_rules()[-2:] == (first, second)


@pytest.mark.system
@pytest.mark.parametrize("engine_name", ["seclang", "crs"])
def test_seclang_exclusions_tune_crs_in_both_engines(crs_dir: Path, tmp_path: Path, engine_name: str) -> None:
    if engine_name == "crs":
        need(importlib.util.find_spec("libmodsecurity") is not None, "libmodsecurity (the crs extra)")
    path = tmp_path / "tuning.conf"
    path.write_text(SECLANG_EXCLUSIONS, encoding="utf-8")

    plain = create_engine(engine_name, EngineSettings(paranoia=1, crs_dir=str(crs_dir)))
    tuned = create_engine(
        engine_name, EngineSettings(paranoia=1, crs_dir=str(crs_dir), exclusions=(str(path),))
    )

    def fired(engine: object, target: str) -> frozenset[int]:
        return cast(FiringEngine, engine).fired_rule_ids(RawRequest("GET", target, HEADERS))

    try:
        assert {941100, 941110} <= fired(plain, XSS)
        assert 941110 in fired(plain, "/api/render" + XSS[1:])
        assert 942100 in fired(plain, SQLI_IN_PASSWORD)

        assert 941100 not in fired(tuned, XSS)  # SecRuleRemoveById
        assert 941110 in fired(tuned, XSS)
        assert 941110 not in fired(tuned, "/api/render" + XSS[1:])  # ctl:ruleRemoveById on one route
        assert 942100 not in fired(tuned, SQLI_IN_PASSWORD)  # SecRuleUpdateTargetById !ARGS:password
        assert 942100 in fired(tuned, SQLI_IN_Q)
        # ctl:ruleRemoveTargetByTag: one parameter out of a rule family on one route
        assert fired(plain, "/api/comments?text=" + XSS.split("=", 1)[1]) & XSS_RULES
        assert not fired(tuned, "/api/comments?text=" + XSS.split("=", 1)[1]) & XSS_RULES
        assert 941160 in fired(tuned, "/api/comments?other=" + XSS.split("=", 1)[1])
    finally:
        plain.close()
        tuned.close()
