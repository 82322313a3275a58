"""SecLang transformations (``t:name``) with libmodsecurity 3 semantics, looked up by name.

A transformation takes a value holding one character per byte (the raw bytes decoded as
latin-1) and returns another such value. Every function is linear in its input and never
raises. Names are case-insensitive, as in ModSecurity (``t:urlDecodeUni`` = ``t:urldecodeuni``).
Each family lives in its own module and registers its functions on import.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "Transformation",
    "UnknownTransformationError",
    "get",
    "names",
    "register",
]

Transformation = Callable[[str], str]

_REGISTRY: dict[str, tuple[str, Transformation]] = {}


class UnknownTransformationError(KeyError):
    """A rule named a transformation that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


def register(name: str, fn: Transformation) -> Transformation:
    """Register ``fn`` under ``name`` (case-insensitive; a later registration replaces it)."""
    _REGISTRY[name.lower()] = (name, fn)
    return fn


def get(name: str) -> Transformation:
    """The transformation called ``name`` (any case); the error lists every known name."""
    try:
        return _REGISTRY[name.lower()][1]
    except KeyError:
        raise UnknownTransformationError(
            f"unknown transformation {name!r}; known: {', '.join(names())}"
        ) from None


def names() -> tuple[str, ...]:
    """Every registered transformation name as ModSecurity spells it, sorted."""
    return tuple(sorted((spelled for spelled, _ in _REGISTRY.values()), key=str.lower))


def _load_families() -> None:
    from gateway.engines.native.seclang.transforms import codecs, comments, markup, paths, text, url  # noqa: F401


_load_families()
