"""The SecLang transformation registry; see :mod:`rampart.gateway.engines.native.seclang.transforms`."""

from __future__ import annotations

from collections.abc import Callable

from rampart.registry import Registry, UnknownNameError

__all__ = [
    "Transformation",
    "UnknownTransformationError",
    "get",
    "names",
    "register",
    "transforms",
]

Transformation = Callable[[str], str]


class UnknownTransformationError(UnknownNameError):
    """A rule named a transformation that is not registered."""


transforms: Registry[Transformation] = Registry(
    "transformation", unknown=UnknownTransformationError, fold=str.lower
)


def register(name: str, fn: Transformation, *, replace: bool = False) -> Transformation:
    """Register ``fn`` under ``name`` (case-insensitive; a second registration needs
    ``replace=True``)."""
    return transforms.register(name, fn, replace=replace)


def get(name: str) -> Transformation:
    """The transformation called ``name`` (any case); the error lists every known name."""
    return transforms.get(name)


def names() -> tuple[str, ...]:
    """Every registered transformation name as ModSecurity spells it, sorted."""
    return transforms.names()
