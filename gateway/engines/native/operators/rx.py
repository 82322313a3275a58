"""``rx``: a linear-time regular expression (RE2 syntax; Hyperscan pre-filters it)."""

from __future__ import annotations

from typing import Any

import re2

from rampart.gateway.engines.native.operators.registry import register

__all__ = ["Regex"]


class Regex:
    """Match ``argument`` anywhere in the value; the matched text is the leftmost match."""

    def __init__(self, argument: Any) -> None:
        if not isinstance(argument, str) or not argument:
            raise ValueError("rx needs a non-empty regex string as argument")
        try:
            self._regex = re2.compile(argument)
        except re2.error as exc:
            raise ValueError(f"rx argument is not a valid RE2 regex: {exc}") from None
        self.prefilter: tuple[str, ...] | None = (argument,)

    def match(self, value: str) -> str | None:
        try:
            found = self._regex.search(value)
        except UnicodeEncodeError:  # a lone surrogate (``js_decode`` of ``\ud800``): RE2 reads UTF-8
            found = self._regex.search(value.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
        return None if found is None else found.group(0)


register("rx", Regex)
