"""``contains``: the value contains the argument (case-sensitive)."""

from __future__ import annotations

from typing import Any

from rampart.gateway.engines.native.operators.registry import escape_literal, register

__all__ = ["Contains"]


class Contains:
    """Match when ``argument`` occurs in the value."""

    def __init__(self, argument: Any) -> None:
        if not isinstance(argument, str) or not argument:
            raise ValueError("contains needs a non-empty string as argument")
        self._needle = argument
        self.prefilter: tuple[str, ...] | None = (escape_literal(argument),)

    def match(self, value: str) -> str | None:
        return self._needle if self._needle in value else None


register("contains", Contains)
