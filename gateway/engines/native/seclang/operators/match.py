"""What an operator returns when it matches (compiled with the operators, :mod:`rampart.accel`).

A plain class rather than a dataclass: compiled by mypyc, building one is a C call, where a
dataclass's generated ``__init__`` stays interpreted (about ten times dearer; a benign request
builds about fifteen).
"""

from __future__ import annotations

__all__ = ["OperatorMatch"]


class OperatorMatch:
    """A hit: the matched text and, for regexes, the capture groups (``captures[0]`` = whole)."""

    __slots__ = ("captures", "matched")

    def __init__(self, matched: str, captures: tuple[str, ...] = ()) -> None:
        self.matched = matched
        self.captures = captures

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OperatorMatch):
            return NotImplemented
        return self.matched == other.matched and self.captures == other.captures

    def __hash__(self) -> int:
        return hash((self.matched, self.captures))

    def __repr__(self) -> str:
        return f"OperatorMatch(matched={self.matched!r}, captures={self.captures!r})"
