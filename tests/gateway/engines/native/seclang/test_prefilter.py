"""The fast path: rules it guards fire exactly as without it, including on the value that
Hyperscan itself gets wrong (CRS 942210-39), and rules whose patterns cannot match are skipped."""

from __future__ import annotations

from urllib.parse import quote

from rampart.gateway.engines.native.seclang.executor import compile_ruleset, run_request
from rampart.gateway.engines.native.seclang.loader import Loader
from rampart.gateway.model import RawRequest

RULES = r"""
SecDefaultAction "phase:2,log,pass"
SecRule ARGS_NAMES|ARGS "@rx (?i)@.+=\s*?\(\s*?select" "id:1,phase:2,t:none,t:urlDecodeUni"
SecRule ARGS "@pm shadow passwd" "id:2,phase:2,t:none,t:lowercase"
SecRule ARGS "@rx ^zz+$" "id:3,phase:2,t:none"
SecRule ARGS "!@rx ^a" "id:4,phase:2,t:none"
"""

# The argument name of CRS test 942210-39: python-hyperscan 0.9.1 does not find the pattern of
# rule 1 in it (RE2 and PCRE do).
NAME = (
    "pay=@extension]=MmcDirectmailSubscription&tx_mmcdirectmailsubscription_subscr"
    "[__referrer][@vendor]=(SELECT"
)


def _fired(body: str, fast: bool) -> set[int]:
    loader = Loader()
    loader.load_text(RULES, "fast.conf")
    ruleset = compile_ruleset(loader.finish(), strict=True, fast=fast)
    request = RawRequest(
        "POST",
        "/",
        (("Host", "h"), ("Content-Type", "application/x-www-form-urlencoded")),
        body.encode("latin-1"),
    )
    return {e.rule_id for e in run_request(ruleset, request, request.body, "u").logged}


def test_the_guarded_rules_fire_as_without_the_fast_path() -> None:
    for body in [quote(NAME, safe=""), "x=/etc/SHADOW", "x=zzz", "x=abc", "x=b", "", "a=1&b=@x=(select"]:
        assert _fired(body, fast=True) == _fired(body, fast=False), body


def test_hyperscans_miss_is_not_inherited() -> None:
    assert 1 in _fired(quote(NAME, safe=""), fast=True)


def test_the_fast_path_guards_literals_with_hyperscan_and_other_rx_with_re2_sets() -> None:
    loader = Loader()
    loader.load_text(RULES, "fast.conf")
    prefilters = compile_ruleset(loader.finish(), strict=True).prefilters
    assert prefilters is not None
    assert prefilters.database is not None
    # rule 1 needs "select", rule 2 its phrases: literals; ^zz+$ has no 3-byte literal: RE2 set
    assert len(prefilters.literal_slots) == 2
    assert len(prefilters.sets) == 1
    assert len(prefilters.set_of) == 1
    assert len(prefilters.guarded) == 3  # the negated rule is always evaluated
    select, zz = sorted(prefilters.literal_slots)[0], next(iter(prefilters.set_of))
    assert prefilters.candidates(select, "x=(SeLeCt")
    assert not prefilters.candidates(select, "x=(sel")
    assert prefilters.candidates(zz, "zzz")
    assert not prefilters.candidates(zz, "zzza")


RETARGET = r"""
SecDefaultAction "phase:2,log,pass"
SecRule REQUEST_METHOD "@streq POST" "id:10,phase:2,nolog,ctl:ruleRemoveTargetByTag=skip-a;ARGS:a"
SecRule ARGS "@rx attack" "id:11,phase:2,tag:skip-a"
SecRule ARGS "@rx attack" "id:12,phase:2,tag:other"
SecRule ARGS "@pm shadow" "id:13,phase:2,t:none,t:lowercase,tag:other"
"""


def test_a_target_removed_by_tag_leaves_the_other_rules_guarded_and_exact() -> None:
    """Only the rules the ctl's tag names get their own values; the others keep the shared,
    guarded ones, and every rule fires as without the fast path."""
    loader = Loader()
    loader.load_text(RETARGET, "retarget.conf")
    parsed = loader.finish()
    fast, slow = compile_ruleset(parsed, strict=True), compile_ruleset(parsed, strict=True, fast=False)
    expected = {
        "a=attack": {12},
        "b=attack": {11, 12},
        "a=attack&b=/etc/SHADOW": {12, 13},
        "a=x": set(),
    }
    for body, fires in expected.items():
        request = RawRequest(
            "POST", "/", (("Host", "h"), ("Content-Type", "application/x-www-form-urlencoded")), body.encode()
        )
        for ruleset in (fast, slow):
            assert {e.rule_id for e in run_request(ruleset, request, request.body, "u").logged} == fires, body
