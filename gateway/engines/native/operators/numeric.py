"""Numeric comparisons ``gt``, ``ge``, ``lt``, ``le``, ``eq``: the value, read as a number,
compared with the argument. A value that is not a number never matches."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from rampart.gateway.engines.native.operators.registry import register

__all__ = ["NumericCompare"]

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
    "eq": operator.eq,
}


class NumericCompare:
    """``float(value) <op> argument``."""

    prefilter: tuple[str, ...] | None = None

    def __init__(self, name: str, argument: Any) -> None:
        if isinstance(argument, bool) or not isinstance(argument, int | float):
            raise ValueError(f"{name} needs a number as argument")
        self._compare = _COMPARISONS[name]
        self._limit = float(argument)

    def match(self, value: str) -> str | None:
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return value if self._compare(number, self._limit) else None


def _factory(name: str) -> Callable[[Any], NumericCompare]:
    return lambda argument: NumericCompare(name, argument)


for _name in _COMPARISONS:
    register(_name, _factory(_name))
