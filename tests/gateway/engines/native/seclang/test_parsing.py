"""The SecLang lexer, the parsers of variables, operators and actions, and the loader:
small snippets in, rule values (or errors naming file and line) out."""

from __future__ import annotations

from pathlib import Path

import pytest

from rampart.gateway.engines.native.seclang.lexer import SecLangSyntaxError, split_arguments, tokenize
from rampart.gateway.engines.native.seclang.loader import Loader, SecLangLoadError, parse_id_ranges
from rampart.gateway.engines.native.seclang.parse import (
    parse_actions,
    parse_operator,
    parse_setvar,
    parse_targets,
)
from rampart.gateway.engines.native.seclang.rules import Marker, Rule, SetVar, Target


def _load(text: str) -> Loader:
    loader = Loader()
    loader.load_text(text, "snippet.conf")
    return loader


def _rules(text: str, phase: int = 2) -> list[Rule]:
    return [r for r in _load(text).finish().phases[phase] if isinstance(r, Rule)]


def test_continuations_comments_and_quotes() -> None:
    text = (
        "# a comment\n"
        'SecRule ARGS "@rx a\\"b c" \\\n'
        '    "id:1,\\\n'
        '    phase:2,pass"\n'
        "   # indented comment\n"
        "SecMarker END\n"
    )
    directives = tokenize(text, Path("x.conf"))
    assert [d.name for d in directives] == ["SecRule", "SecMarker"]
    assert directives[0].args == ("ARGS", '@rx a"b c', "id:1,    phase:2,pass")
    assert directives[0].line == 2
    assert directives[1].line == 6


def test_unclosed_quote_names_file_and_line() -> None:
    with pytest.raises(SecLangSyntaxError, match=r"x\.conf:3: a double quote is not closed"):
        tokenize('\n\nSecRule ARGS "@rx a', Path("x.conf"))
    assert split_arguments('a "b c" d\\x', "w") == ("a", "b c", "d\\x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ARGS", (Target("ARGS"),)),
        ("ARGS:id|!ARGS:pwd", (Target("ARGS", "id"), Target("ARGS", "pwd", exclude=True))),
        ("&TX:x", (Target("TX", "x", count=True),)),
        (
            "REQUEST_COOKIES:/a|b/|ARGS_NAMES",
            (Target("REQUEST_COOKIES", key_regex="a|b"), Target("ARGS_NAMES")),
        ),
        ("request_headers:User-Agent", (Target("REQUEST_HEADERS", "User-Agent"),)),
        ("XML:/*|XML://@*", (Target("XML", "/*"), Target("XML", "//@*"))),
        ("!REQUEST_COOKIES:/^\\/x/", (Target("REQUEST_COOKIES", key_regex="^\\/x", exclude=True),)),
    ],
)
def test_targets(text: str, expected: tuple[Target, ...]) -> None:
    assert parse_targets(text) == expected


def test_target_errors() -> None:
    with pytest.raises(ValueError, match="not closed"):
        parse_targets("ARGS:/abc")
    with pytest.raises(ValueError, match="empty variable"):
        parse_targets("!")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@rx ^a b$", ("rx", "^a b$", False)),
        ("!@streq GET", ("streq", "GET", True)),
        ("foo|bar", ("rx", "foo|bar", False)),
        ("@pmFromFile x.data", ("pmfromfile", "x.data", False)),
        ("@unconditionalMatch", ("unconditionalmatch", "", False)),
    ],
)
def test_operators(text: str, expected: tuple[str, str, bool]) -> None:
    assert parse_operator(text) == expected


def test_actions_keep_quoted_commas_and_escaped_quotes() -> None:
    actions = parse_actions("id:1, phase:2,msg:'a, b',logdata:'it\\'s',t:none,t:lowercase,  pass ,tag:'x'")
    assert actions == [
        ("id", "1"),
        ("phase", "2"),
        ("msg", "a, b"),
        ("logdata", "it's"),
        ("t", "none"),
        ("t", "lowercase"),
        ("pass", ""),
        ("tag", "x"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tx.score=+%{tx.critical}", SetVar("TX", "score", "+", "%{tx.critical}")),
        ("tx.score=-1", SetVar("TX", "score", "-", "1")),
        ("!tx.flag", SetVar("TX", "flag", "!", "")),
        ("tx.flag", SetVar("TX", "flag", "=", "1")),
        ("ip.reput_block_flag=1", SetVar("IP", "reput_block_flag", "=", "1")),
    ],
)
def test_setvar(text: str, expected: SetVar) -> None:
    assert parse_setvar(text) == expected


def test_id_ranges() -> None:
    assert parse_id_ranges("1 5-7,9") == ((1, 1), (5, 7), (9, 9))
    with pytest.raises(ValueError, match="not a rule id"):
        parse_id_ranges("abc")


def test_default_actions_chain_and_transformation_reset() -> None:
    rules = _rules(
        'SecDefaultAction "phase:2,log,auditlog,pass,t:lowercase"\n'
        'SecRule ARGS "@rx a" "id:10,phase:2,t:urlDecode,chain,msg:\'m\',severity:CRITICAL,tag:x"\n'
        '  SecRule MATCHED_VAR "@rx b" "t:none,setvar:tx.hit=1"\n'
        'SecRule ARGS "@rx c" "id:11,phase:2,nolog,t:none,t:length,deny"\n'
    )
    first, second = rules
    assert first.id == 10
    assert first.transforms == ("lowercase", "urlDecode")
    assert first.severity == 2
    assert first.tags == ("x",)
    assert first.log
    assert first.chain is not None
    assert first.chain.id == 10
    assert first.chain.transforms == ()
    assert first.chain.setvars == (SetVar("TX", "hit", "=", "1"),)
    assert second.transforms == ("length",)
    assert not second.log
    assert second.disruptive == "deny"


def test_markers_sit_in_both_phases_and_secaction_is_unconditional() -> None:
    ruleset = _load(
        'SecAction "id:1,phase:1,pass,nolog"\nSecMarker "END-X"\nSecRule ARGS "@rx a" "id:2,phase:2,pass"\n'
    ).finish()
    assert [type(i) for i in ruleset.phases[1]] == [Rule, Marker]
    assert [type(i) for i in ruleset.phases[2]] == [Marker, Rule]
    action = ruleset.phases[1][0]
    assert isinstance(action, Rule)
    assert action.operator == "unconditionalmatch"


def test_removals_and_updates_apply_to_rules_loaded_before_and_after() -> None:
    rules = _rules(
        'SecRule ARGS "@rx a" "id:1,phase:2,pass,tag:\'attack-sqli\'"\n'
        'SecRule ARGS "@rx a" "id:2,phase:2,pass,tag:\'attack-xss\'"\n'
        "SecRuleRemoveByTag attack-xss\n"
        'SecRuleUpdateTargetById 1 "!ARGS:password"\n'
        "SecRuleRemoveById 3-4\n"
        "SecRuleUpdateActionById 1 \"deny,msg:'new'\"\n"
        'SecRule ARGS "@rx a" "id:3,phase:2,pass"\n'
        'SecRule ARGS "@rx a" "id:5,phase:2,pass"\n'
    )
    assert [r.id for r in rules] == [1, 5]
    assert rules[0].targets == (Target("ARGS"), Target("ARGS", "password", exclude=True))
    assert rules[0].disruptive == "deny"
    assert rules[0].msg == "new"


def test_include_resolves_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.conf").write_text('SecRule ARGS "@rx a" "id:7,phase:1,pass"\n')
    main = tmp_path / "main.conf"
    main.write_text("Include sub/*.conf\nSecRequestBodyAccess On\n")
    loader = Loader()
    loader.load_file(main)
    assert [r.id for r in loader.finish().rules()] == [7]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('SecRule ARGS "@rx a" "phase:2,pass"', "no id"),
        ('SecRule ARGS "@rx a" "id:1,frobnicate"', "unknown action 'frobnicate'"),
        ('SecRule ARGS "@rx a" "id:1"\nSecRule ARGS "@rx a" "id:1"', "already used"),
        ('SecRule ARGS "@rx a" "id:1,chain"\nSecMarker X', "asks to chain"),
        ('SecRule ARGS "@rx a" "id:1,phase:9"', "phase '9' is invalid"),
        ("SecFrobnicate On", "unknown directive"),
        ("Include nothing-here-*.conf", "matches no file"),
    ],
)
def test_errors_name_file_line_and_fix(text: str, needle: str) -> None:
    with pytest.raises(SecLangLoadError) as info:
        _load(text)
    assert "snippet.conf:" in str(info.value)
    assert needle in str(info.value)


def test_a_chain_left_open_at_the_end_is_an_error() -> None:
    loader = _load('SecRule ARGS "@rx a" "id:1,chain"')
    with pytest.raises(SecLangLoadError, match="asks to chain but no rule follows"):
        loader.finish()
