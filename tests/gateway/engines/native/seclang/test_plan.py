"""Folding the rules whose outcome is the same for every request (:mod:`.plan`): CRS's
paranoia-level checks fold; a rule set whose paranoia level or removals change per request
still behaves as libmodsecurity and as the unfolded executor."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from rampart.attacks.ftw import runner
from rampart.gateway.engines.native.seclang.executor import (
    CompiledRule,
    CompiledRuleset,
    run_request,
)
from rampart.gateway.engines.native.seclang.loader import Loader
from rampart.gateway.engines.native.seclang.plan import compile_plan
from rampart.gateway.engines.native.seclang.rules import Marker
from rampart.gateway.model import RawRequest
from tests.conftest import need

if TYPE_CHECKING:
    from tests.gateway.engines.native.seclang.modsec_oracle import ModSecOracle

_BASE = 'SecDefaultAction "phase:1,log,pass"\nSecDefaultAction "phase:2,log,pass"\n'

# the paranoia level is 1 unless the body asks for 2 (phase 1 cannot see the body: phase 2 can)
PER_REQUEST_PARANOIA = r"""
SecAction "id:1,phase:1,pass,nolog,setvar:tx.pl=1,setvar:tx.score=0"
SecRule &TX:pl "@eq 0" "id:2,phase:1,pass,nolog,setvar:tx.pl=4"
SecRule TX:pl "@lt 2" "id:3,phase:1,pass,nolog,skipAfter:END-1"
SecRule REQUEST_URI "@contains oracle" "id:4,phase:1,pass,log"
SecMarker END-1
SecRule REQUEST_BODY "@contains pl2" "id:10,phase:2,pass,nolog,setvar:tx.pl=2"
SecRule TX:pl "@lt 2" "id:11,phase:2,pass,nolog,skipAfter:END-2"
SecRule REQUEST_BODY "@contains attack" "id:12,phase:2,pass,log,setvar:tx.score=+5"
SecMarker END-2
SecRule TX:score "@ge 5" "id:13,phase:2,pass,log"
SecRule TX:pl "@eq 1" "id:14,phase:2,pass,log"
"""

# a rule that every request reaches with the same TX, but a ctl may remove per request
PER_REQUEST_REMOVAL = r"""
SecAction "id:1,phase:2,pass,nolog,setvar:tx.pl=1"
SecRule REQUEST_BODY "@contains keep" "id:2,phase:2,pass,nolog,ctl:ruleRemoveById=3"
SecRule TX:pl "@lt 2" "id:3,phase:2,pass,nolog,skipAfter:END"
SecRule REQUEST_BODY "@contains attack" "id:4,phase:2,pass,log"
SecMarker END
SecRule TX:pl "@eq 1" "id:5,phase:2,pass,log"
"""

# a setvar whose key is a macro makes every key with its prefix unknown, not the others
MACRO_KEY = r"""
SecAction "id:1,phase:2,pass,nolog,setvar:tx.flag_a=0,setvar:tx.other=0"
SecRule REQUEST_BODY "@rx ^(\w+)" "id:2,phase:2,pass,nolog,capture,setvar:tx.flag_%{tx.1}=1"
SecRule TX:flag_a "@eq 1" "id:3,phase:2,pass,log"
SecRule TX:other "@eq 0" "id:4,phase:2,pass,nolog,setvar:tx.seen=1"
SecRule TX:seen "@eq 1" "id:5,phase:2,pass,log"
"""

# chains whose later links read the request: folded only where the first link never matches
FIRST_LINK = r"""
SecAction "id:1,phase:2,pass,nolog,setvar:tx.limit=0"
SecRule &TX:max "@eq 1" "id:2,phase:2,pass,log,chain"
    SecRule REQUEST_BODY "@contains attack" "setvar:tx.score=+5"
SecRule TX:limit "@eq 0" "id:3,phase:2,pass,log,chain"
    SecRule REQUEST_BODY "@contains attack" "setvar:tx.score=+3"
SecRule TX:score "@ge 3" "id:4,phase:2,pass,log"
"""

BODIES = [b"", b"hello", b"pl2", b"attack", b"pl2 attack", b"keep attack", b"a", b"b attack"]


def _compile(rules: str, fast: bool = True) -> CompiledRuleset:
    loader = Loader()
    loader.load_text(_BASE + rules, "plan.conf")
    return compile_plan(loader.finish(), strict=True, fast=fast)


def _request(body: bytes) -> RawRequest:
    headers = (("Host", "127.0.0.1"), ("Content-Type", "text/plain"), ("Content-Length", str(len(body))))
    return RawRequest("POST", "/oracle", headers, body)


def _fired(ruleset: CompiledRuleset, body: bytes) -> set[int]:
    return {e.rule_id for e in run_request(ruleset, _request(body), body, "u").logged}


def _folded_ids(ruleset: CompiledRuleset) -> set[int]:
    return {
        item.rule.id
        for phase, items in ruleset.phases.items()
        for item, done in zip(items, ruleset.folded[phase], strict=True)
        if done is not None and not isinstance(item, Marker)
    }


def test_only_what_every_request_shares_is_folded() -> None:
    assert _folded_ids(_compile(PER_REQUEST_PARANOIA)) == {1, 2, 3}  # 11, 13, 14 read TX per request
    removal = _compile(PER_REQUEST_REMOVAL)
    assert _folded_ids(removal) == {1, 3}
    jump = removal.folded[2][2]
    assert jump is not None
    assert jump.removable
    assert _folded_ids(_compile(MACRO_KEY)) == {1, 4}
    assert _folded_ids(_compile(FIRST_LINK)) == {1, 2}  # 3's first link matches: its chain runs
    assert _compile(PER_REQUEST_PARANOIA, fast=False).folded == {}


@pytest.mark.parametrize("rules", [PER_REQUEST_PARANOIA, PER_REQUEST_REMOVAL, MACRO_KEY, FIRST_LINK])
def test_folded_rule_sets_fire_as_unfolded_and_as_libmodsecurity(rules: str, oracle: ModSecOracle) -> None:
    folded, unfolded = _compile(rules), _compile(rules, fast=False)
    for body in BODIES:
        ours = _fired(folded, body)
        assert ours == _fired(unfolded, body), body
        assert ours == oracle.fired(_BASE + rules, body), body


def test_a_removed_folded_rule_does_not_jump() -> None:
    ruleset = _compile(PER_REQUEST_REMOVAL)
    assert _fired(ruleset, b"attack") == {5}
    assert _fired(ruleset, b"keep attack") == {4, 5}


@pytest.mark.parametrize("version", ["3.3.4", "4.28.0"])
def test_crs_paranoia_checks_fold_at_paranoia_1(version: str) -> None:
    from rampart.gateway.engines.native.seclang.engine import SecLangEngine

    crs = runner.CRS_VERSIONS[version]
    need((crs.crs_dir / "rules").is_dir(), f"CRS {version} rules in {crs.crs_dir}")
    with runner.test_settings(crs, 1) as settings:
        ruleset = SecLangEngine(settings).ruleset
    ids = _folded_ids(ruleset)
    # the initialisation, the "paranoia level below 2" jumps of both phases
    assert {901100, 901120, 920013, 942013, 920014, 942014} <= ids
    # a detection rule reads the request; the anomaly totals depend on what fired
    assert not ids & {942100, 949110}
    items, folded = ruleset.phases[1], ruleset.folded[1]
    index = next(n for n, i in enumerate(items) if isinstance(i, CompiledRule) and i.rule.id == 942013)
    jump = folded[index]
    assert jump is not None
    assert jump.next > index + 1  # at paranoia 1 it always jumps


# folded rules that always lead to one another: one replay from the first
RUN = r"""
SecRule &TX:a "@eq 0" "id:1,phase:1,pass,nolog,setvar:tx.a=1"
SecRule &TX:b "@eq 0" "id:2,phase:1,pass,nolog,setvar:tx.b=2,setvar:!tx.a"
SecRule TX:b "@eq 2" "id:3,phase:1,pass,nolog,setvar:tx.a=3,skipAfter:END"
SecRule REQUEST_URI "@contains oracle" "id:4,phase:1,pass,log"
SecMarker END
SecRule &TX:c "@eq 0" "id:5,phase:1,pass,nolog,setvar:tx.c=%{tx.a}%{tx.b}"
SecRule REQUEST_URI "@contains oracle" "id:6,phase:1,pass,log,setvar:tx.d=%{tx.c}"
"""


def test_a_run_of_folded_rules_replays_at_once_as_one_by_one() -> None:
    ruleset = _compile(RUN)
    first = ruleset.folded[1][0]
    assert first is not None
    assert [key for key, _ in first.writes] == ["a", "b", "a", "a", "c"]
    assert first.next == 6  # past the marker and rule 5: rule 6 is evaluated
    for rules in (ruleset, _compile(RUN, fast=False)):
        tx = run_request(rules, _request(b""), b"", "u")
        assert [e.rule_id for e in tx.logged] == [6]
        assert tx.tx == {"b": ("b", "2"), "a": ("a", "3"), "c": ("c", "32"), "d": ("d", "32")}
        assert list(tx.tx) == ["b", "a", "c", "d"]
