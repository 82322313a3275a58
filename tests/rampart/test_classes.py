"""``KnownAttackClass`` as a field type: values become ``AttackClass``, a bad name lists the
known ones, and the models that hold a class use it instead of their own validators."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from rampart.classes import ATTACK_CLASSES, AttackClass, KnownAttackClass, attack_class


class _Holder(BaseModel):
    cls: KnownAttackClass


def test_a_known_name_becomes_the_enum_member() -> None:
    held = _Holder(cls="ssrf")  # type: ignore[arg-type]
    assert held.cls is AttackClass.SSRF
    assert str(held.cls) == "ssrf"
    assert held.model_dump_json() == '{"cls":"ssrf"}'
    assert attack_class("xss") is AttackClass.XSS


@pytest.mark.parametrize("bad", ["sqli", "", 3, "SSRF"])
def test_a_bad_name_lists_the_known_ones(bad: object) -> None:
    with pytest.raises(ValidationError) as err:
        _Holder(cls=bad)  # type: ignore[arg-type]
    message = str(err.value)
    assert f"unknown class {bad!r}" in message
    assert ", ".join(ATTACK_CLASSES) in message
    with pytest.raises(ValueError, match="unknown class"):
        attack_class(str(bad))


def test_the_corpus_and_rule_models_hold_the_enum() -> None:
    from rampart.attacks.cases import Case
    from rampart.gateway.engines.native.exclusions import Exclusion
    from rampart.gateway.engines.native.ruleset import RuleSpec

    case = Case.model_validate(
        {
            "id": "x1",
            "label": "attack",
            "class": "xss",
            "expect": {"marker": "m"},
            "endpoint": "L1",
            "request": {"path": "/"},
        }
    )
    assert case.attack_class is AttackClass.XSS
    with pytest.raises(ValidationError, match="unknown class 'xs'"):
        Case.model_validate(
            {
                "id": "x1",
                "label": "attack",
                "class": "xs",
                "expect": {"marker": "m"},
                "endpoint": "L1",
                "request": {"path": "/"},
            }
        )
    rule = {
        "id": 1,
        "message": "m",
        "severity": "critical",
        "targets": ["ARGS"],
        "operator": "rx",
        "argument": "a",
    }
    assert RuleSpec.model_validate({**rule, "class": "ssti"}).attack_class is AttackClass.SSTI
    assert RuleSpec.model_validate({**rule, "class": "protocol"}).attack_class == "protocol"
    with pytest.raises(ValidationError, match="unknown class 'sqli'; use one of anomaly, code_injection"):
        RuleSpec.model_validate({**rule, "class": "sqli"})
    assert Exclusion(classes=frozenset({"anomaly", "xss"})).classes == {"anomaly", AttackClass.XSS}  # type: ignore[arg-type]
