"""The operator and transformation registries: lookup in any case, clear errors."""

from __future__ import annotations

import pytest

from rampart.gateway.engines.native.seclang import operators, transforms
from rampart.gateway.engines.native.seclang.operators import OperatorContext, UnknownOperatorError
from rampart.gateway.engines.native.seclang.transforms import UnknownTransformationError


def test_operator_names_are_case_insensitive(context: OperatorContext) -> None:
    assert operators.get("RX") is operators.get("rx")
    assert operators.get("pmfromfile") is operators.get("pmFromFile")
    assert "beginsWith" in operators.names()


def test_unknown_operator_lists_known_names() -> None:
    with pytest.raises(UnknownOperatorError) as info:
        operators.get("nosuchop")
    assert "'nosuchop'" in str(info.value)
    assert "rx" in str(info.value)
    assert isinstance(info.value, KeyError)


def test_transformation_names_are_case_insensitive() -> None:
    assert transforms.get("URLDECODEUNI") is transforms.get("urlDecodeUni")
    assert "urlDecodeUni" in transforms.names()


def test_unknown_transformation_lists_known_names() -> None:
    with pytest.raises(UnknownTransformationError) as info:
        transforms.get("rot13")
    assert "'rot13'" in str(info.value)
    assert "lowercase" in str(info.value)


def test_none_is_registered_as_identity() -> None:
    assert transforms.get("none")("A%41") == "A%41"
