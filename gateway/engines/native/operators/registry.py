"""The operator registry and what an operator is (the families register here on import).

A factory takes the rule's ``argument`` and returns an :class:`Operator`, raising ``ValueError``
for a bad argument. An operator may declare ``prefilter`` patterns (linear-time regexes, in the
common subset of Hyperscan and RE2): the engine compiles them into one Hyperscan database per
transformation chain and only calls :meth:`Operator.match` on values where one of them hit.
``prefilter = None`` means "always evaluate". ``match`` judges the value alone (the same value
always gets the same answer): the engine keeps the short values an operator refused after a
pre-filter hit and does not ask again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from rampart.registry import Registry, UnknownNameError

__all__ = [
    "Operator",
    "OperatorFactory",
    "UnknownOperatorError",
    "escape_literal",
    "get",
    "names",
    "operators",
    "register",
]


class Operator(Protocol):
    """A compiled test: ``match`` returns the matched text, or None."""

    prefilter: tuple[str, ...] | None

    def match(self, value: str) -> str | None: ...


OperatorFactory = Callable[[Any], Operator]


class UnknownOperatorError(UnknownNameError):
    """A rule named an operator that is not registered."""


operators: Registry[OperatorFactory] = Registry("operator", unknown=UnknownOperatorError)


def register(name: str, factory: OperatorFactory, *, replace: bool = False) -> OperatorFactory:
    """Register ``factory`` under ``name`` (a second registration needs ``replace=True``)."""
    return operators.register(name, factory, replace=replace)


def get(name: str) -> OperatorFactory:
    """The operator factory called ``name``; the error lists every known name."""
    return operators.get(name)


def names() -> tuple[str, ...]:
    """Every registered operator name, sorted."""
    return operators.names()


def escape_literal(text: str) -> str:
    """``text`` as a regex matching it literally (valid for both Hyperscan and RE2)."""
    out: list[str] = []
    for ch in text:
        if ch == "_" or ord(ch) > 127 or (ch.isascii() and ch.isalnum()):
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}")
    return "".join(out)
