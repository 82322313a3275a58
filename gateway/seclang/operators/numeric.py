"""``eq``, ``ge``, ``gt``, ``le``, ``lt``: integer comparisons with ModSecurity's parsing.

libmodsecurity reads both the value and the argument like C's ``stoi``: leading whitespace
is skipped, an optional sign and the longest run of decimal digits is read, anything after
it ignored. A value without leading digits (``"abc"``, ``""``) or outside the 32-bit range
counts as 0, so ``@eq 0`` matches non-numeric values and ``@gt 0`` does not.
"""

from __future__ import annotations

import operator as _op
from collections.abc import Callable
from dataclasses import dataclass

from gateway.seclang.operators import OperatorContext, OperatorMatch, register

__all__ = ["Compare", "parse_int"]

_WHITESPACE = " \t\n\v\f\r"
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_MAX_DIGITS = 12


def parse_int(text: str) -> int:
    """``text`` read as a C ``stoi`` reads it; 0 where ``stoi`` would throw."""
    i, n = 0, len(text)
    while i < n and text[i] in _WHITESPACE:
        i += 1
    sign = 1
    if i < n and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    start = i
    while i < n and "0" <= text[i] <= "9":
        i += 1
        if i - start > _MAX_DIGITS and text[start] != "0":
            return 0
    if i == start:
        return 0
    number = sign * int(text[start:i])
    return number if _INT_MIN <= number <= _INT_MAX else 0


@dataclass(frozen=True, slots=True)
class Compare:
    """``value <op> argument`` on the parsed integers; the matched text is the value."""

    reference: int
    test: Callable[[int, int], bool]
    prefilter: tuple[str, ...] | None = None

    def evaluate(self, value: str) -> OperatorMatch | None:
        return OperatorMatch(value) if self.test(parse_int(value), self.reference) else None


def _factory(test: Callable[[int, int], bool]) -> Callable[[str, OperatorContext], Compare]:
    def build(argument: str, context: OperatorContext) -> Compare:
        return Compare(parse_int(argument), test)

    return build


register("eq", _factory(_op.eq))
register("ge", _factory(_op.ge))
register("gt", _factory(_op.gt))
register("le", _factory(_op.le))
register("lt", _factory(_op.lt))
