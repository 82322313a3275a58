"""``@rx``: PCRE translated for RE2/Hyperscan/Python, ModSecurity's flags, captures, tiers,
the bounded fallback, and every CRS 3.3.4 and 4.28.0 pattern against libmodsecurity."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import hyperscan
import pytest

from rampart.gateway.engines.native.seclang.operators import PREFILTER_FLAGS
from rampart.gateway.engines.native.seclang.operators.factors import required_literals
from rampart.gateway.engines.native.seclang.operators.pcre import split_lookbehinds, translate
from rampart.gateway.engines.native.seclang.operators.regex import (
    FALLBACK_COUNTS,
    FALLBACK_INPUT_LIMIT,
    compile_rx,
)
from rampart.gateway.engines.native.seclang.operators.survey import read_operators
from tests.gateway.engines.native.seclang.conftest import build

if TYPE_CHECKING:
    from tests.gateway.engines.native.seclang.modsec_oracle import ModSecOracle


# (pattern, value, matches?) - PCRE semantics as libmodsecurity runs them (DOTALL, MULTILINE).
SEMANTICS: list[tuple[str, str, bool]] = [
    ("a.b", "a\nb", True),  # DOTALL
    ("^b", "a\nb", True),  # MULTILINE
    ("a$", "a\nb", True),
    ("^$", "abc\n", False),  # PCRE's ^ never matches after a final newline
    ("^$", "", True),
    ("br|^$", "abc\n", False),
    ("^$", "a\n\nb", True),
    ("foo\\Z", "foo\n", True),
    ("foo\\z", "foo\n", False),
    ("\\s", "\x0b", True),  # PCRE's \s includes VT, RE2's does not
    ("[\\S]", "\x0b", False),
    ("\\h", "\xa0", True),
    ("a++b", "aab", True),  # possessive, read greedily
    ("(?>ab|a)c", "abc", True),  # atomic group
    ("[\\w-]+x", "a-x", True),  # '-' before ']' is literal
    ("[]a]", "]", True),
    ("\\x41\\x{42}\\101", "ABA", True),
    ("\\e", "\x1b", True),
    ("(?i)abc", "ABC", True),
    ("x(?i)b|c", "C", True),  # an inline flag covers the following alternatives
    ("(?i)\xe9", "\xc9", False),  # case folding is ASCII only (no UTF mode)
    ("\\d+", "\xb2", False),
    ("(a)\\1", "aa", True),  # backreference: fallback tier
    ("(?<=x)y", "xy", True),  # lookbehind: fallback tier
    ("(?<!&(?:amp)|&(?:lt));", "&lt;", False),  # variable-width alternatives split per branch
    ("(?<!&(?:amp)|&(?:lt));", "a;", True),
    ("<\\?(?!xml)", "<?xml", False),
    ("a{2,}", "aa", True),
    ("a{,2}", "a{,2}", True),  # not a quantifier in PCRE: literal
    ("[\xe2\x80\x99]", "\x99", True),  # a UTF-8 character in a class is its bytes
]


@pytest.mark.parametrize(("pattern", "value", "expected"), SEMANTICS)
def test_pcre_semantics(pattern: str, value: str, expected: bool) -> None:
    assert (compile_rx(pattern).evaluate(value) is not None) is expected


def test_semantics_table_is_libmodsecurity(oracle: ModSecOracle) -> None:
    for pattern, value, expected in SEMANTICS:
        hit = 0 in oracle.matching(["@rx " + pattern], value.encode("latin-1"))
        assert hit is expected, (pattern, value)


def test_captures_fill_tx_0_to_9() -> None:
    found = compile_rx("(a)(b)?(c)(d)(e)(f)(g)(h)(i)(j)(k)").evaluate("xacdefghijk")
    assert found is not None
    assert found.matched == "acdefghijk"
    assert found.captures == ("acdefghijk", "a", "", "c", "d", "e", "f", "g", "h", "i")


def test_bytes_above_0x7f_survive_matching() -> None:
    found = compile_rx("(\\xff.)").evaluate("a\xff\x00b")
    assert found is not None
    assert found.captures[1] == "\xff\x00"


@pytest.mark.parametrize(
    ("pattern", "tier"),
    [("(?i)union\\s+select", "exact"), ("a++b", "prefilter"), ("^$", "exact"), ("(a)\\1", "fallback")],
)
def test_tiers(pattern: str, tier: str) -> None:
    assert compile_rx(pattern).tier == tier


def test_prefilter_compiles_with_the_documented_flags() -> None:
    for pattern in ("(?i)union\\s+select", "abcd++e", "(abc)\\1", "(?<=x)yyy", "[\\w-]+abc", "foo\\Z"):
        prefilter = compile_rx(pattern).prefilter
        assert prefilter is not None
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(
            expressions=[p.encode("latin-1") for p in prefilter],
            ids=list(range(len(prefilter))),
            flags=[PREFILTER_FLAGS] * len(prefilter),
        )


def test_required_literals() -> None:
    assert required_literals(translate("(?i)union\\s+select").python) == ("select",)
    assert required_literals(translate("\\bon(?:error|load)\\s*=").python) == ("onerror", "onload")
    assert required_literals(translate("[Ss][Ee][Ll]ect").python) == ("select",)
    assert required_literals(translate("a(?:bc)?d").python) is None  # "ad" is too short
    assert required_literals(translate("ab|cde").python) is None
    assert required_literals(translate("(?:foo)?bar|baz").python) == ("bar", "baz")
    assert compile_rx("(?i)union\\s+select").prefilter == ("(?i)select",)


def test_hyperscan_false_negative_is_not_used_as_prefilter() -> None:
    """python-hyperscan 0.9.1 misses this match (CRS 942210-39); the operator must still run."""
    value = "@_mmcdirectmailsubscription_subscr[__referrer][@vendor]=("
    regex = compile_rx("@.+=\\s*\\(")
    assert regex.evaluate(value) is not None
    assert regex.prefilter is None
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=[regex.hyperscan_pattern.encode()], ids=[0], flags=[PREFILTER_FLAGS])
    hits: list[int] = []
    database.scan(value.encode(), match_event_handler=lambda *args: hits.append(1))
    if hits:
        pytest.fail("Hyperscan now finds this match: PATTERN_PREFILTERS could be reconsidered")


def test_pattern_matching_empty_has_no_prefilter() -> None:
    assert compile_rx("^.*$").prefilter is None
    assert compile_rx("x?").prefilter is None


def test_fallback_is_bounded_and_counted() -> None:
    regex = compile_rx("(a)\\1$")
    before = FALLBACK_COUNTS.evaluations, FALLBACK_COUNTS.truncated
    assert regex.evaluate("aa") is not None
    assert regex.evaluate("x" * (FALLBACK_INPUT_LIMIT + 10) + "aa") is None  # beyond the limit
    assert FALLBACK_COUNTS.evaluations == before[0] + 2
    assert FALLBACK_COUNTS.truncated == before[1] + 1


@pytest.mark.parametrize(
    "pattern", ["(", "a)", "[a", "\\", "a{2,1}", "\\k<x>", "(?x)a b", "[\\w-.]", "[a-\\d]"]
)
def test_bad_pattern_raises_value_error(pattern: str) -> None:
    with pytest.raises(ValueError, match="@rx"):
        compile_rx(pattern)


def test_lookbehind_split() -> None:
    assert split_lookbehinds("(?<!a|bc)d") == "(?<!a)(?<!bc)d"
    assert split_lookbehinds("(?<=a|[|)]|\\|)d") == "(?:(?<=a)|(?<=[|)])|(?<=\\|))d"
    assert split_lookbehinds("[(?<=a|b)]") == "[(?<=a|b)]"


def test_translation_keeps_python_scoped_flags() -> None:
    assert translate("a(?i)b|c").python == "a(?i:b)|(?i:c)"


def test_operator_through_registry_uses_rx() -> None:
    operator = build("rx", "(?i)select\\s")
    assert operator.evaluate("SELECT 1") is not None
    assert operator.evaluate("selection") is None


def _crs_patterns(folders: tuple[Path, ...]) -> list[str]:
    seen: dict[str, None] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.conf")):
            for op in read_operators(path):
                if op.name.lower() == "rx" and "%{" not in op.argument:
                    seen.setdefault(op.argument, None)
    return list(seen)


@pytest.mark.system
def test_every_crs_pattern_compiles(crs_rule_dirs: tuple[Path, Path]) -> None:
    patterns = _crs_patterns(crs_rule_dirs)
    assert len(patterns) > 450
    tiers = [compile_rx(p).tier for p in patterns]
    assert tiers.count("fallback") <= 5
    assert tiers.count("exact") > 0.85 * len(patterns)


@pytest.mark.system
@pytest.mark.slow
def test_crs_patterns_agree_with_libmodsecurity(
    oracle: ModSecOracle, crs_rule_dirs: tuple[Path, Path], payloads: list[bytes]
) -> None:
    """Every CRS @rx pattern on 600 CRS test inputs: the same match/no-match as libmodsecurity."""
    patterns = _crs_patterns(crs_rule_dirs)
    compiled = [compile_rx(p) for p in patterns]
    operators = ["@rx " + p for p in patterns]
    differences: list[tuple[str, bytes, bool]] = []
    for body in payloads[:600]:
        theirs = oracle.matching(operators, body)
        value = body.decode("latin-1")
        for index, regex in enumerate(compiled):
            ours = regex.evaluate(value) is not None
            if ours != (index in theirs):
                differences.append((patterns[index][:80], body[:80], index in theirs))
    assert differences == []


@pytest.mark.system
def test_literal_prefilters_cover_every_crs_match(
    crs_rule_dirs: tuple[Path, Path], payloads: list[bytes]
) -> None:
    """Wherever a CRS pattern matches a CRS test input, one of its required literals occurs."""
    checked = 0
    for pattern in _crs_patterns(crs_rule_dirs):
        literals = required_literals(translate(pattern).python)
        if literals is None:
            continue
        regex = compile_rx(pattern)
        for body in payloads[:800]:
            value = body.decode("latin-1")
            if regex.evaluate(value) is not None:
                lowered = value.lower()
                assert any(text in lowered for text in literals), (pattern[:80], body[:80])
                checked += 1
    assert checked > 300
