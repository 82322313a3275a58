"""``verifyCC``, ``verifySSN``, ``verifyCPF``: a regex finds candidates, a checksum confirms.

Each operator's argument is a regex (run like ``@rx``). As libmodsecurity does, the regex is
tried from every offset of the value (so shorter candidates inside a longer run of digits
are tried too) and the value matches when one candidate passes the check on its digits
(other characters ignored). That search is quadratic in the worst case, so only the first
:data:`INPUT_LIMIT` bytes are searched.

- ``verifyCC``: the Luhn checksum (any number of digits, at least one);
- ``verifySSN``: 9 digits forming a US social security number that can be issued (area not
  000, 666 or 900-999; group not 00; serial not 0000; not nine equal digits, not 123456789);
- ``verifyCPF``: 11 digits with the two Brazilian CPF check digits right (not all equal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rampart.gateway.engines.native.seclang.operators.regex import Regex, compile_rx
from rampart.gateway.engines.native.seclang.operators.registry import OperatorContext, OperatorMatch, register

__all__ = ["INPUT_LIMIT", "Verified", "cpf_valid", "luhn_valid", "ssn_valid"]

INPUT_LIMIT = 4096
"""Bytes of a value the candidate search looks at."""


def _digits(text: str) -> str:
    return "".join(ch for ch in text if "0" <= ch <= "9")


def luhn_valid(text: str) -> bool:
    """The digits of ``text`` (at least one) pass the Luhn checksum."""
    digits = _digits(text)
    if not digits:
        return False
    total = 0
    for index, ch in enumerate(reversed(digits)):
        digit = int(ch)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def ssn_valid(text: str) -> bool:
    """The digits of ``text`` form an issuable US social security number."""
    digits = _digits(text)
    if len(digits) != 9 or len(set(digits)) == 1 or digits == "123456789":
        return False
    area, group, serial = int(digits[:3]), digits[3:5], digits[5:]
    return area not in (0, 666) and area < 900 and group != "00" and serial != "0000"


def cpf_valid(text: str) -> bool:
    """The digits of ``text`` form a Brazilian CPF number with correct check digits."""
    digits = [int(ch) for ch in _digits(text)]
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    for length in (9, 10):
        total = sum(d * w for d, w in zip(digits[:length], range(length + 1, 1, -1), strict=True))
        check = (total * 10) % 11 % 10
        if check != digits[length]:
            return False
    return True


@dataclass(frozen=True, slots=True)
class Verified:
    """Regex candidates confirmed by ``check``."""

    regex: Regex
    check: Callable[[str], bool]

    @property
    def prefilter(self) -> tuple[str, ...] | None:
        return self.regex.prefilter

    def evaluate(self, value: str) -> OperatorMatch | None:
        value = value[:INPUT_LIMIT]
        offset = 0
        while offset < len(value):
            found = self.regex.search_from(value, offset)
            if found is None:
                return None
            start, candidate = found
            if self.check(candidate):
                return OperatorMatch(candidate, (candidate,))
            offset = max(offset, start) + 1
        return None


def _factory(check: Callable[[str], bool], name: str) -> Callable[[str, OperatorContext], Verified]:
    def build(argument: str, context: OperatorContext) -> Verified:
        if not argument:
            raise ValueError(f"@{name} needs a regex that finds candidate numbers")
        return Verified(compile_rx(argument), check)

    return build


register("verifyCC", _factory(luhn_valid, "verifyCC"))
register("verifySSN", _factory(ssn_valid, "verifySSN"))
register("verifyCPF", _factory(cpf_valid, "verifyCPF"))
