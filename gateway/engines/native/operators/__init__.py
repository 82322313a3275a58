"""Operators: what a rule tests a (transformed) target value with, looked up by name.

A factory takes the rule's ``argument`` and returns an :class:`Operator`, raising ``ValueError``
for a bad argument. An operator may declare ``prefilter`` patterns (linear-time regexes, in the
common subset of Hyperscan and RE2): the engine compiles them into one Hyperscan database per
transformation chain and only calls :meth:`Operator.match` on values where one of them hit.
``prefilter = None`` means "always evaluate".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = [
    "Operator",
    "OperatorFactory",
    "UnknownOperatorError",
    "escape_literal",
    "get",
    "names",
    "register",
]


class Operator(Protocol):
    """A compiled test: ``match`` returns the matched text, or None."""

    prefilter: tuple[str, ...] | None

    def match(self, value: str) -> str | None: ...


OperatorFactory = Callable[[Any], Operator]

_REGISTRY: dict[str, OperatorFactory] = {}


class UnknownOperatorError(KeyError):
    """A rule named an operator that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


def register(name: str, factory: OperatorFactory) -> OperatorFactory:
    """Register ``factory`` under ``name`` (a later registration replaces it)."""
    _REGISTRY[name] = factory
    return factory


def get(name: str) -> OperatorFactory:
    """The operator factory called ``name``; the error lists every known name."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownOperatorError(f"unknown operator {name!r}; known: {known}") from None


def names() -> tuple[str, ...]:
    """Every registered operator name, sorted."""
    return tuple(sorted(_REGISTRY))


def escape_literal(text: str) -> str:
    """``text`` as a regex matching it literally (valid for both Hyperscan and RE2)."""
    out: list[str] = []
    for ch in text:
        if ch == "_" or ord(ch) > 127 or (ch.isascii() and ch.isalnum()):
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}")
    return "".join(out)


def _load_operators() -> None:
    from gateway.engines.native.operators import (  # noqa: F401
        begins_with,
        contains,
        detect_sqli,
        detect_ssrf,
        detect_xss,
        equals,
        ip_match,
        length,
        numeric,
        pm,
        rx,
    )


_load_operators()
