"""``pm``: phrase match, case-insensitive, against a list of phrases (Hyperscan literals)."""

from __future__ import annotations

from typing import Any

from rampart.gateway.engines.native.operators.registry import escape_literal, register

__all__ = ["PhraseMatch"]


class PhraseMatch:
    """Match when any phrase occurs in the value (case-insensitively)."""

    def __init__(self, argument: Any) -> None:
        if isinstance(argument, str):
            argument = argument.split()
        if (
            not isinstance(argument, list)
            or not argument
            or not all(isinstance(p, str) and p for p in argument)
        ):
            raise ValueError("pm needs a non-empty list of non-empty phrases as argument")
        self._phrases: tuple[str, ...] = tuple(sorted({p.lower() for p in argument}, key=len, reverse=True))
        self.prefilter: tuple[str, ...] | None = tuple("(?i)" + escape_literal(p) for p in self._phrases)

    def match(self, value: str) -> str | None:
        lower = value.lower()
        for phrase in self._phrases:
            if phrase in lower:
                return phrase
        return None


register("pm", PhraseMatch)
