"""The SecLang operator registry and what an operator is (see
:mod:`rampart.gateway.engines.native.seclang.operators`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rampart.gateway.engines.native.seclang.operators.match import OperatorMatch
from rampart.registry import Registry, UnknownNameError

__all__ = [
    "PREFILTER_FLAGS",
    "Operator",
    "OperatorContext",
    "OperatorFactory",
    "OperatorMatch",
    "UnknownOperatorError",
    "get",
    "names",
    "operators",
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
class OperatorContext:
    """Where the rule came from: ``base_dir`` is the rule file's folder (for ``*FromFile``)."""

    base_dir: Path


class Operator(Protocol):
    """A compiled test of one value."""

    @property
    def prefilter(self) -> tuple[str, ...] | None: ...

    def evaluate(self, value: str) -> OperatorMatch | None: ...


OperatorFactory = Callable[[str, OperatorContext], Operator]


class UnknownOperatorError(UnknownNameError):
    """A rule named an operator that is not registered."""


operators: Registry[OperatorFactory] = Registry("operator", unknown=UnknownOperatorError, fold=str.lower)


def register(name: str, factory: OperatorFactory, *, replace: bool = False) -> OperatorFactory:
    """Register ``factory`` under ``name`` (case-insensitive; a second registration needs
    ``replace=True``)."""
    return operators.register(name, factory, replace=replace)


def get(name: str) -> OperatorFactory:
    """The operator factory called ``name`` (any case); the error lists every known name."""
    return operators.get(name)


def names() -> tuple[str, ...]:
    """Every registered operator name as ModSecurity spells it, sorted."""
    return operators.names()
