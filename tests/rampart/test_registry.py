"""The one registry idiom: register (call and decorator), get with known names on a miss,
sorted names, one duplicate policy, optional case folding, and the registries built on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rampart.registry import DuplicateNameError, Registry, UnknownNameError


def test_register_by_call_and_by_decorator() -> None:
    reg: Registry[Callable[[str], str]] = Registry("codec")
    upper = reg.register("upper", str.upper)

    @reg.register("lower")
    def lower(text: str) -> str:
        return text.lower()

    assert upper is str.upper
    assert reg.get("upper")("ab") == "AB"
    assert reg.get("lower")("AB") == "ab"
    assert lower("X") == "x"  # the decorator hands the function back unchanged
    assert reg.names() == ("lower", "upper")
    assert [name for name, _ in reg.items()] == ["upper", "lower"]  # registration order
    assert list(reg) == [str.upper, lower]
    assert "upper" in reg
    assert "nope" not in reg
    assert len(reg) == 2


def test_a_miss_lists_every_known_name() -> None:
    reg: Registry[int] = Registry("engine")
    reg.register("b", 2)
    reg.register("a", 1)
    with pytest.raises(UnknownNameError) as err:
        reg.get("c")
    assert str(err.value) == "unknown engine 'c'; known: a, b"
    assert isinstance(err.value, KeyError)
    empty: Registry[int] = Registry("engine")
    with pytest.raises(UnknownNameError, match="known: none"):
        empty.get("a")


def test_duplicates_are_refused_unless_replace_is_said() -> None:
    reg: Registry[int] = Registry("operator")
    reg.register("rx", 1)
    with pytest.raises(DuplicateNameError, match="'rx' is already registered; pass replace=True"):
        reg.register("rx", 2)
    assert reg.get("rx") == 1
    reg.register("rx", 2, replace=True)
    assert reg.get("rx") == 2
    reg.register("rx", 2)  # the same item again (a module imported twice) is no duplicate
    before = reg.version
    reg.register("rx", 3, replace=True)
    assert reg.version != before  # callers that keep what they looked up look again
    before = reg.version
    reg.unregister("rx")
    assert reg.version != before
    with pytest.raises(ValueError, match="non-empty name"):
        reg.register("", 3)


def test_own_error_class_and_case_folding() -> None:
    class UnknownThingError(UnknownNameError):
        pass

    reg: Registry[int] = Registry("transformation", unknown=UnknownThingError, fold=str.lower)
    reg.register("urlDecodeUni", 1)
    reg.register("base64Decode", 2)
    assert reg.get("URLDECODEUNI") == 1
    assert "urldecodeuni" in reg
    assert reg.names() == ("base64Decode", "urlDecodeUni")  # spelled as registered
    with pytest.raises(DuplicateNameError):
        reg.register("UrlDecodeUni", 3)
    with pytest.raises(UnknownThingError, match="known: base64Decode, urlDecodeUni"):
        reg.get("rot13")


def test_the_project_registries_share_the_idiom() -> None:
    from rampart.attacks.importers import FORMATS, importers
    from rampart.attacks.mutators.placements import placements
    from rampart.attacks.mutators.registry import encoders
    from rampart.gateway.engines import UnknownEngineError, engines
    from rampart.gateway.engines.native import operators, transforms
    from rampart.gateway.engines.native.seclang import operators as sec_operators
    from rampart.gateway.engines.native.seclang import transforms as sec_transforms
    from rampart.inprocess.detectors import detectors, names

    names()  # loads every detector module
    registries: list[Registry[Any]] = [
        importers,
        placements,
        encoders,
        engines,
        operators.operators,
        transforms.transforms,
        sec_operators.operators,
        sec_transforms.transforms,
        detectors,
    ]
    for reg in registries:
        assert isinstance(reg, Registry)
        assert len(reg) > 0
        with pytest.raises(UnknownNameError, match=f"unknown {reg.kind} 'no-such-name'; known: "):
            reg.get("no-such-name")
    assert set(importers.names()) == set(FORMATS)
    assert {"native", "crs", "seclang"} <= set(engines.names())
    with pytest.raises(UnknownEngineError):
        engines.get("nope")
    assert sec_operators.get("BEGINSWITH") is sec_operators.get("beginsWith")


def test_unregister_removes_a_name_and_returns_its_item() -> None:
    reg: Registry[int] = Registry("thing", fold=str.lower)
    reg.register("Alpha", 1)
    assert reg.unregister("alpha") == 1
    assert "Alpha" not in reg
    assert reg.unregister("alpha") is None
    reg.register("alpha", 2)  # free again: no duplicate error
    assert reg.get("alpha") == 2
