"""Length comparisons ``length_gt`` and ``length_lt``: the value's length in characters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rampart.gateway.engines.native.operators.registry import register

__all__ = ["LengthCompare"]


class LengthCompare:
    """``len(value) > argument`` (``length_gt``) or ``< argument`` (``length_lt``)."""

    prefilter: tuple[str, ...] | None = None

    def __init__(self, greater: bool, argument: Any) -> None:
        if isinstance(argument, bool) or not isinstance(argument, int) or argument < 0:
            raise ValueError("length comparisons need a non-negative integer as argument")
        self._greater = greater
        self._limit = argument

    def match(self, value: str) -> str | None:
        size = len(value)
        hit = size > self._limit if self._greater else size < self._limit
        return f"length {size}" if hit else None


def _factory(greater: bool) -> Callable[[Any], LengthCompare]:
    return lambda argument: LengthCompare(greater, argument)


register("length_gt", _factory(True))
register("length_lt", _factory(False))
