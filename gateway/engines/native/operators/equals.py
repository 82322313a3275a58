"""``equals``: the value equals the argument (case-sensitive; a list means any of them)."""

from __future__ import annotations

from typing import Any

from rampart.gateway.engines.native.operators.registry import register

__all__ = ["Equals"]


class Equals:
    """Match when the whole value is one of the given strings."""

    prefilter: tuple[str, ...] | None = None

    def __init__(self, argument: Any) -> None:
        values = [argument] if isinstance(argument, str) else argument
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise ValueError("equals needs a string or a list of strings as argument")
        self._values = frozenset(values)

    def match(self, value: str) -> str | None:
        return value if value in self._values else None


register("equals", Equals)
