"""The rule set as data: every rule's examples are regression tests, run by one loop (as CRS's
regression suite does): an attack example must fire that rule, a benign example must not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rampart.classes import ATTACK_CLASSES
from rampart.gateway.engines.native.engine import NativeEngine
from rampart.gateway.engines.native.ruleset import Example, LoadedRule, RuleSpec, example_request, load_rules
from rampart.gateway.model import EngineSettings

RULES = load_rules()


def _examples() -> Iterator[tuple[str, RuleSpec, Example, bool]]:
    for rule in RULES:
        for index, example in enumerate(rule.spec.examples.attack):
            yield f"{rule.spec.id}-attack-{index}", rule.spec, example, True
        for index, example in enumerate(rule.spec.examples.benign):
            yield f"{rule.spec.id}-benign-{index}", rule.spec, example, False


EXAMPLES = list(_examples())


@pytest.fixture(scope="module")
def engine() -> Iterator[NativeEngine]:
    """Every rule active (paranoia 4), a threshold nothing reaches and no CPU budget (a shared CI
    machine once spent 416 ms on the 5,000-value example), so only matches matter."""
    eng = NativeEngine(EngineSettings(paranoia=4, threshold=10**6, budget_ms=0))
    yield eng
    eng.close()


@pytest.mark.parametrize(
    ("spec", "example", "attack"), [e[1:] for e in EXAMPLES], ids=[e[0] for e in EXAMPLES]
)
def test_rule_example(engine: NativeEngine, spec: RuleSpec, example: Example, attack: bool) -> None:
    verdict = engine.inspect(example_request(spec, example))
    assert verdict.error is None
    fired = str(spec.id) in verdict.rule_ids
    assert fired is attack, (
        f"rule {spec.id} {'missed' if attack else 'fired on'} {example!r}: {verdict.matches}"
    )


@pytest.mark.parametrize("rule", RULES, ids=[str(r.spec.id) for r in RULES])
def test_every_rule_has_attack_and_benign_examples(rule: LoadedRule) -> None:
    assert rule.spec.examples.attack, f"rule {rule.spec.id} ({rule.source}:{rule.line}) has no attack example"
    assert rule.spec.examples.benign, f"rule {rule.spec.id} ({rule.source}:{rule.line}) has no benign example"


def test_every_attack_class_has_paranoia_1_rules() -> None:
    classes = {r.spec.attack_class for r in RULES if r.spec.paranoia == 1}
    assert set(ATTACK_CLASSES) | {"protocol"} <= classes


def test_rule_ids_are_unique_and_tags_present() -> None:
    ids = [r.spec.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(r.spec.tags for r in RULES)
