"""Plain values (rampart.gateway.engines.native.plain): the transformations the engines skip on
them really leave them as they are, and what is not plain is told apart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampart.gateway.engines.native import transforms as yaml_transforms
from rampart.gateway.engines.native.engine import NativeEngine, _chain_triggers, _plain_chain
from rampart.gateway.engines.native.plain import (
    EVERYTHING,
    SECLANG_IDENTITY,
    SECLANG_TRIGGERS,
    SPACE,
    SPACE_BEFORE,
    SPACE_RUN,
    UPPER,
    YAML_IDENTITY,
    YAML_TRIGGERS,
    char_mask,
    is_plain,
)
from rampart.gateway.engines.native.seclang import executor
from rampart.gateway.engines.native.seclang import transforms as seclang_transforms
from rampart.gateway.engines.native.seclang.executor import compile_ruleset, run_request
from rampart.gateway.engines.native.seclang.loader import Loader
from rampart.gateway.model import EngineSettings, RawRequest

PLAIN = st.from_regex(r"[a-z0-9_]+(?:-[a-z0-9_]+)*", fullmatch=True)
# what the transformations act on, one by one and mixed into plain text
ACTIVE = ("%41", "a+b", "&amp;", "\\x41", "A", "a b", "a\0b", "a/b", "a.b", "a--b", "/*", "#", "é")


@settings(max_examples=300, deadline=None)
@given(PLAIN)
def test_every_seclang_identity_step_leaves_a_plain_value_alone(value: str) -> None:
    assert is_plain(value)
    for name in SECLANG_IDENTITY:
        assert seclang_transforms.get(name)(value) == value, name


@settings(max_examples=300, deadline=None)
@given(PLAIN)
def test_every_yaml_identity_step_leaves_a_plain_value_alone(value: str) -> None:
    for name in YAML_IDENTITY:
        assert yaml_transforms.get(name)(value)[0] == value, name


@pytest.mark.parametrize("active", ACTIVE)
def test_what_a_step_acts_on_is_not_plain(active: str) -> None:
    assert not is_plain(active)
    assert not is_plain(f"session{active}0a1b")
    assert not is_plain("")


def test_the_lists_hold_no_step_that_changes_a_plain_value() -> None:
    # the decoders that read plain text as data are left out on purpose
    assert seclang_transforms.get("sqlHexDecode")("0x41") != "0x41"
    assert seclang_transforms.get("base64Decode")("abcd") != "abcd"
    assert "sqlhexdecode" not in SECLANG_IDENTITY
    assert "base64decode" not in SECLANG_IDENTITY
    assert "base64_decode_if_encoded" not in YAML_IDENTITY


def test_a_step_registered_in_place_of_a_plain_one_is_not_trusted() -> None:
    def shout(value: str) -> str:
        return value.upper()

    trusted = executor._chain_node(0, "lowercase", seclang_transforms.get("lowercase"))
    replaced = executor._chain_node(0, "lowercase", shout)
    assert executor._PLAIN_NODES[trusted]
    assert not executor._PLAIN_NODES[replaced]
    assert _plain_chain(("url_decode", "lowercase"))
    assert not _plain_chain(("url_decode", "base64_decode_if_encoded"))


_PLAIN_RULES = """
SecDefaultAction "phase:1,log,pass"
SecDefaultAction "phase:2,log,pass"
SecRule ARGS "@rx ^dead[0-9a-f]+$" "id:11,phase:2,t:none,t:urlDecodeUni,t:htmlEntityDecode,t:lowercase"
SecRule REQUEST_COOKIES "@pm beef" "id:12,phase:2,t:none,t:cmdLine,t:removeCommentsChar"
SecRule ARGS "@streq shoes-42" "id:13,phase:2,t:none,t:compressWhitespace,t:normalizePath"
SecRule ARGS "@rx ^i" "id:14,phase:2,t:none,t:base64Decode"
SecRule ARGS "@rx ^DEAD" "id:15,phase:2,t:none,t:uppercase"
"""


def test_rules_still_find_plain_values_through_the_chains_they_skip() -> None:
    loader = Loader()
    loader.load_text(_PLAIN_RULES, "plain.conf")
    ruleset = compile_ruleset(loader.finish(), strict=True)
    request = RawRequest(
        "GET", "/s?q=deadbeef01&id=shoes-42&b=aab3", (("Host", "127.0.0.1"), ("Cookie", "s=00beef77"))
    )
    other = RawRequest("GET", "/s?q=cafe&id=shoes-43", (("Host", "127.0.0.1"), ("Cookie", "s=0011")))
    for _ in range(3):  # the first request meets the values, the next ones use the caches
        assert {e.rule_id for e in run_request(ruleset, request, b"", "u").logged} == {11, 12, 13, 14, 15}
        assert {e.rule_id for e in run_request(ruleset, other, b"", "u").logged} == set()


_YAML_RULES = """\
class: sql_injection
id_range: [3000, 3999]
rules:
  - id: 3951
    message: a plain word through a chain of plain steps
    severity: critical
    tags: [t]
    targets: [ARGS, REQUEST_COOKIES]
    transformations: [url_decode, html_entity_decode, unicode_normalise, lowercase, remove_nulls]
    operator: rx
    argument: '^dead[0-9a-f]+$'
  - id: 3953
    message: words through a chain that a value without escapes or capitals skips
    severity: critical
    tags: [t]
    targets: [ARGS]
    transformations: [url_decode, html_entity_decode, lowercase, remove_nulls]
    operator: rx
    argument: '^hello wo.ld$'
  - id: 3952
    message: a plain word through base64
    severity: critical
    tags: [t]
    targets: [ARGS]
    transformations: [base64_decode_if_encoded]
    operator: rx
    argument: 'hi1'
"""


def test_the_yaml_rules_still_find_plain_values(tmp_path: Path) -> None:
    (tmp_path / "plain.yaml").write_text(_YAML_RULES)
    engine = NativeEngine(EngineSettings(rules_dir=str(tmp_path), shipped_rules=False))
    try:
        assert any(group.plain for group in engine._groups)
        assert not all(group.plain for group in engine._groups)
        in_query = RawRequest("GET", "/s?q=deadbeef01", (("Host", "127.0.0.1"),))
        in_cookie = RawRequest("GET", "/s?q=x", (("Host", "127.0.0.1"), ("Cookie", "s=dead77")))
        other = RawRequest("GET", "/s?q=beefdead", (("Host", "127.0.0.1"), ("Cookie", "s=77dead")))
        for _ in range(2):  # values met before come from the caches
            assert [(m.rule_id, m.target) for m in engine.inspect(in_query).matches] == [
                ("3951", "ARGS_GET:q")
            ]
            assert [(m.rule_id, m.target) for m in engine.inspect(in_cookie).matches] == [
                ("3951", "REQUEST_COOKIES:s")
            ]
            assert engine.inspect(other).matches == ()
            for query in ("hello%20world", "Hello%2520World", "hello%20wo%26%23114%3Bld", "HELLO%20WORLD"):
                request = RawRequest("GET", f"/s?g={query}", (("Host", "127.0.0.1"),))
                assert [m.rule_id for m in engine.inspect(request).matches] == ["3953"], query
    finally:
        engine.close()


ASCII = [chr(c) for c in range(128)]


def _avoiding(triggers: int) -> list[str]:
    """The ASCII characters none of whose bits are in ``triggers``."""
    return [c for c in ASCII if not char_mask(c) & triggers]


def _seclang_step(name: str, value: str) -> str:
    return seclang_transforms.get(name)(value)


def _yaml_step(name: str, value: str) -> str:
    return yaml_transforms.get(name)(value)[0]


_STEPS_WITH_TRIGGERS = [(_seclang_step, name, bits) for name, bits in sorted(SECLANG_TRIGGERS.items())] + [
    (_yaml_step, name, bits) for name, bits in sorted(YAML_TRIGGERS.items())
]


@pytest.mark.parametrize(
    ("step", "name", "triggers"),
    _STEPS_WITH_TRIGGERS,
    ids=[f"{step.__name__[1:-5]}-{name}" for step, name, _ in _STEPS_WITH_TRIGGERS],
)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_value_without_a_steps_triggers_is_left_alone(
    step: Callable[[str, str], str], name: str, triggers: int, data: st.DataObject
) -> None:
    value = data.draw(st.text(alphabet=st.sampled_from([*_avoiding(triggers), " "]), max_size=30))
    if char_mask(value) & triggers:
        return  # a space run or a space before "/" or "(": not a value this test is about
    assert step(name, value) == value


def test_the_mask_sees_what_the_steps_act_on() -> None:
    assert char_mask("value 3 of a form") == SPACE
    assert char_mask("Hello") & UPPER
    assert char_mask("a  b") & SPACE_RUN
    assert char_mask("ls (x)") & SPACE_BEFORE
    assert char_mask("a /b") & SPACE_BEFORE
    assert char_mask("caf\u00e9") == EVERYTHING
    assert char_mask("x" * 600) == EVERYTHING
    for value in (
        "%41",
        "a+b",
        "&lt;",
        "\\x41",
        "a\0b",
        "/etc",
        "a.b",
        "a--b",
        "#",
        "/*",
        "<!--",
        "'",
        '"',
        "^",
        ";",
        "\t",
    ):
        assert char_mask(value), value


def test_a_chain_with_a_decoder_is_never_skipped() -> None:
    decoder = executor._chain_node(0, "base64decode", seclang_transforms.get("base64Decode"))
    lowered = executor._chain_node(decoder, "lowercase", seclang_transforms.get("lowercase"))
    assert executor._NODE_TRIGGERS[decoder] == -1
    assert executor._NODE_TRIGGERS[lowered] == -1
    assert not executor._unchanged(lowered, "abcd")
    assert executor._unchanged(
        executor._chain_node(0, "lowercase", seclang_transforms.get("lowercase")), "abc def"
    )


def test_a_yaml_chain_is_skipped_only_when_every_step_is_known() -> None:
    assert _chain_triggers(("url_decode", "lowercase")) == YAML_TRIGGERS["url_decode"] | UPPER
    assert _chain_triggers(("url_decode", "cmdline")) == -1
    assert _chain_triggers(("url_decode", "base64_decode_if_encoded")) == -1
    # a value outside ASCII always runs unicode_normalise
    assert char_mask("\uff1cscript\uff1e") & YAML_TRIGGERS["unicode_normalise"]


_WORD_RULES = """
SecDefaultAction "phase:2,log,pass"
SecRule ARGS "@rx ^hello wo.ld$" "id:21,phase:2,t:none,t:urlDecodeUni,t:htmlEntityDecode,t:lowercase"
SecRule ARGS "@rx ^helloworld$" "id:22,phase:2,t:none,t:removeWhitespace,t:lowercase"
SecRule ARGS "@rx ^hello world$" "id:23,phase:2,t:none,t:compressWhitespace,t:cmdLine"
"""


@pytest.mark.parametrize(
    ("query", "fired"),
    [
        ("hello%20world", {21, 22, 23}),
        ("Hello%2520World", {21}),  # decoded once by the parser, once more by urlDecodeUni
        ("hello%20wo%26%23114%3Bld", {21}),
        ("HELLO%20%20WORLD", {22, 23}),
        ("hello%09world", {22, 23}),
        ("hello%20%22world", {23}),  # cmdLine deletes the quote
        ("hello%20%2Fworld", set()),
        ("%27Hello%27%20world", {23}),
    ],
)
def test_chains_skipped_for_values_without_their_triggers_still_find_what_they_should(
    query: str, fired: set[int]
) -> None:
    loader = Loader()
    loader.load_text(_WORD_RULES, "words.conf")
    ruleset = compile_ruleset(loader.finish(), strict=True)
    request = RawRequest("GET", f"/s?g={query}", (("Host", "127.0.0.1"),))
    for _ in range(3):  # met once, then from the caches
        assert {e.rule_id for e in run_request(ruleset, request, b"", "u").logged} == fired
    reference = compile_ruleset(loader.finish(), strict=True, fast=False)
    assert {e.rule_id for e in run_request(reference, request, b"", "u").logged} == fired
