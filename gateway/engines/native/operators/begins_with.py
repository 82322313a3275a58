"""``begins_with``: the value starts with the argument (case-sensitive)."""

from __future__ import annotations

from typing import Any

from rampart.gateway.engines.native.operators.registry import register

__all__ = ["BeginsWith"]


class BeginsWith:
    """Match when the value starts with ``argument`` (a list means any of them)."""

    prefilter: tuple[str, ...] | None = None

    def __init__(self, argument: Any) -> None:
        prefixes = [argument] if isinstance(argument, str) else argument
        if (
            not isinstance(prefixes, list)
            or not prefixes
            or not all(isinstance(p, str) and p for p in prefixes)
        ):
            raise ValueError("begins_with needs a non-empty string or list of strings as argument")
        self._prefixes: tuple[str, ...] = tuple(prefixes)

    def match(self, value: str) -> str | None:
        for prefix in self._prefixes:
            if value.startswith(prefix):
                return prefix
        return None


register("begins_with", BeginsWith)
