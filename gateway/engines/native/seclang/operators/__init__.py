"""SecLang operators (``@name argument``) with libmodsecurity 3 semantics, looked up by name.

A factory takes the operator's argument (after the core's macro expansion) and an
:class:`OperatorContext`, and returns an :class:`Operator`; a bad argument raises
``ValueError`` at construction. Values are strings holding one character per byte (raw bytes
decoded as latin-1).

``prefilter`` lists Hyperscan patterns (latin-1 text, byte semantics) that match wherever the
operator can match, so the core only calls :meth:`Operator.evaluate` on values where one of
them hit; ``None`` means "always evaluate" (used for operators that can match the empty
value, numeric and validation operators, and patterns Hyperscan cannot compile). The core
compiles them with :data:`PREFILTER_FLAGS` (``HS_FLAG_PREFILTER | HS_FLAG_DOTALL |
HS_FLAG_MULTILINE | HS_FLAG_SINGLEMATCH``): every pattern given here compiles with those
flags, and each of them only widens the match set.

Names are case-insensitive, as in ModSecurity; one module per family registers on import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = [
    "PREFILTER_FLAGS",
    "Operator",
    "OperatorContext",
    "OperatorFactory",
    "OperatorMatch",
    "UnknownOperatorError",
    "get",
    "names",
    "register",
]


def _prefilter_flags() -> int:
    import hyperscan

    return int(
        hyperscan.HS_FLAG_PREFILTER
        | hyperscan.HS_FLAG_DOTALL
        | hyperscan.HS_FLAG_MULTILINE
        | hyperscan.HS_FLAG_SINGLEMATCH
    )


PREFILTER_FLAGS: int = _prefilter_flags()
"""Hyperscan flags every ``prefilter`` pattern compiles with."""


@dataclass(frozen=True, slots=True)
class OperatorMatch:
    """A hit: the matched text and, for regexes, the capture groups (``captures[0]`` = whole)."""

    matched: str
    captures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OperatorContext:
    """Where the rule came from: ``base_dir`` is the rule file's folder (for ``*FromFile``)."""

    base_dir: Path


class Operator(Protocol):
    """A compiled test of one value."""

    @property
    def prefilter(self) -> tuple[str, ...] | None: ...

    def evaluate(self, value: str) -> OperatorMatch | None: ...


OperatorFactory = Callable[[str, OperatorContext], Operator]

_REGISTRY: dict[str, tuple[str, OperatorFactory]] = {}


class UnknownOperatorError(KeyError):
    """A rule named an operator that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


def register(name: str, factory: OperatorFactory) -> OperatorFactory:
    """Register ``factory`` under ``name`` (case-insensitive; a later registration replaces it)."""
    _REGISTRY[name.lower()] = (name, factory)
    return factory


def get(name: str) -> OperatorFactory:
    """The operator factory called ``name`` (any case); the error lists every known name."""
    try:
        return _REGISTRY[name.lower()][1]
    except KeyError:
        raise UnknownOperatorError(f"unknown operator {name!r}; known: {', '.join(names())}") from None


def names() -> tuple[str, ...]:
    """Every registered operator name as ModSecurity spells it, sorted."""
    return tuple(sorted((spelled for spelled, _ in _REGISTRY.values()), key=str.lower))


def _load_families() -> None:
    from gateway.engines.native.seclang.operators import (  # noqa: F401
        always,
        identifiers,
        injection,
        network,
        numeric,
        phrases,
        regex,
        strings,
        validation,
    )


_load_families()
