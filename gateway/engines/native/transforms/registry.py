"""The transformation registry: pure ``str -> (str, changed)`` functions by name (each family
module registers its functions here on import)."""

from __future__ import annotations

from collections.abc import Callable

from rampart.registry import Registry, UnknownNameError

__all__ = ["Transform", "UnknownTransformError", "get", "names", "register", "transforms"]

Transform = Callable[[str], tuple[str, bool]]


class UnknownTransformError(UnknownNameError):
    """A rule named a transformation that is not registered."""


transforms: Registry[Transform] = Registry("transformation", unknown=UnknownTransformError)


def register(name: str, fn: Transform, *, replace: bool = False) -> Transform:
    """Register ``fn`` under ``name`` (a second registration needs ``replace=True``)."""
    return transforms.register(name, fn, replace=replace)


def get(name: str) -> Transform:
    """The transformation called ``name``; the error lists every known name."""
    return transforms.get(name)


def names() -> tuple[str, ...]:
    """Every registered transformation name, sorted."""
    return transforms.names()
