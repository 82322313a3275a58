"""``eq``, ``ge``, ``gt``, ``le``, ``lt``: integer comparisons with ModSecurity's parsing.

libmodsecurity reads numbers the C way: leading whitespace skipped, an optional sign, the
longest run of decimal digits, anything after it ignored; no digits at all reads as 0, so
``@eq 0`` matches non-numeric values and ``@gt 0`` does not. ``eq`` uses ``stoi`` (a number
outside the 32-bit range reads as 0); the others use ``atoll`` (64-bit, clamped at its ends).
"""

from __future__ import annotations

import operator as _op
import re
from collections.abc import Callable
from dataclasses import dataclass

from rampart.gateway.engines.native.seclang.operators.registry import OperatorContext, OperatorMatch, register

__all__ = ["Compare", "parse_int", "parse_long"]

_WHITESPACE = " \t\n\v\f\r"
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LLONG_MIN, _LLONG_MAX = -(2**63), 2**63 - 1
_MAX_DIGITS = 20


_NUMBER = re.compile("[ \t\n\v\f\r]*([+-]?)0*([0-9]*)")


def _c_number(text: str) -> int | None:
    """The C reading of ``text`` (whitespace, sign, digits), or None without digits."""
    if text.isdigit() and text.isascii() and len(text) <= _MAX_DIGITS:
        return int(text)
    found = _NUMBER.match(text)
    assert found is not None  # every part is optional
    sign, digits = found.groups()
    if found.end() == found.end(1):  # no digit (zeros included) after the sign
        return None
    if len(digits) > _MAX_DIGITS:
        return (-1 if sign == "-" else 1) * _LLONG_MAX * 2
    return (-1 if sign == "-" else 1) * int(digits or "0")


def parse_int(text: str) -> int:
    """``text`` read as C++'s ``stoi`` reads it; 0 where ``stoi`` would throw."""
    number = _c_number(text)
    return number if number is not None and _INT_MIN <= number <= _INT_MAX else 0


def parse_long(text: str) -> int:
    """``text`` read as C's ``atoll`` reads it (glibc clamps out-of-range numbers)."""
    number = _c_number(text)
    if number is None:
        return 0
    return max(_LLONG_MIN, min(_LLONG_MAX, number))


@dataclass(frozen=True, slots=True)
class Compare:
    """``value <op> argument`` on the parsed integers; the matched text is the value."""

    reference: int
    test: Callable[[int, int], bool]
    parse: Callable[[str], int]
    prefilter: tuple[str, ...] | None = None

    def evaluate(self, value: str) -> OperatorMatch | None:
        return OperatorMatch(value) if self.test(self.parse(value), self.reference) else None


def _factory(
    test: Callable[[int, int], bool], parse: Callable[[str], int]
) -> Callable[[str, OperatorContext], Compare]:
    def build(argument: str, context: OperatorContext) -> Compare:
        return Compare(parse(argument), test, parse)

    return build


register("eq", _factory(_op.eq, parse_int))
register("ge", _factory(_op.ge, parse_long))
register("gt", _factory(_op.gt, parse_long))
register("le", _factory(_op.le, parse_long))
register("lt", _factory(_op.lt, parse_long))
