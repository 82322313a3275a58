"""Plain string operators: ``streq``, ``within``, ``beginsWith``, ``endsWith``, ``contains``,
``containsWord``, ``strmatch``. All case-sensitive, as in ModSecurity."""

from __future__ import annotations

from dataclasses import dataclass

from rampart.gateway.engines.native.seclang.operators.literals import byte_text, literal_pattern
from rampart.gateway.engines.native.seclang.operators.registry import OperatorContext, OperatorMatch, register

__all__ = ["BeginsWith", "Contains", "ContainsWord", "EndsWith", "StrEq", "Within"]


@dataclass(frozen=True, slots=True)
class StrEq:
    """The value equals the argument exactly."""

    text: str

    @property
    def prefilter(self) -> tuple[str, ...] | None:
        return None if not self.text else (literal_pattern(self.text),)

    def evaluate(self, value: str) -> OperatorMatch | None:
        return OperatorMatch(value) if value == self.text else None


@dataclass(frozen=True, slots=True)
class Within:
    """The value occurs somewhere in the argument (so an empty value always matches)."""

    text: str
    prefilter: tuple[str, ...] | None = None

    def evaluate(self, value: str) -> OperatorMatch | None:
        return OperatorMatch(value) if value in self.text else None


@dataclass(frozen=True, slots=True)
class BeginsWith:
    """The value starts with the argument."""

    text: str

    @property
    def prefilter(self) -> tuple[str, ...] | None:
        return None if not self.text else (literal_pattern(self.text),)

    def evaluate(self, value: str) -> OperatorMatch | None:
        return OperatorMatch(self.text) if value.startswith(self.text) else None


@dataclass(frozen=True, slots=True)
class EndsWith:
    """The value ends with the argument."""

    text: str

    @property
    def prefilter(self) -> tuple[str, ...] | None:
        return None if not self.text else (literal_pattern(self.text),)

    def evaluate(self, value: str) -> OperatorMatch | None:
        return OperatorMatch(self.text) if value.endswith(self.text) else None


@dataclass(frozen=True, slots=True)
class Contains:
    """The argument occurs somewhere in the value."""

    text: str

    @property
    def prefilter(self) -> tuple[str, ...] | None:
        return None if not self.text else (literal_pattern(self.text),)

    def evaluate(self, value: str) -> OperatorMatch | None:
        return OperatorMatch(self.text) if self.text in value else None


def _letter(ch: str) -> bool:
    return "a" <= ch <= "z" or "A" <= ch <= "Z"


@dataclass(frozen=True, slots=True)
class ContainsWord:
    """The argument occurs in the value with no ASCII letter right before or after it
    (libmodsecurity's boundary test looks at letters only: digits and ``_`` are boundaries)."""

    text: str

    @property
    def prefilter(self) -> tuple[str, ...] | None:
        return None if not self.text else (literal_pattern(self.text),)

    def evaluate(self, value: str) -> OperatorMatch | None:
        if not self.text:
            return OperatorMatch(value)
        width = len(self.text)
        start = value.find(self.text)
        while start != -1:
            end = start + width
            before_ok = start == 0 or not _letter(value[start - 1])
            after_ok = end == len(value) or not _letter(value[end])
            if before_ok and after_ok:
                return OperatorMatch(self.text)
            start = value.find(self.text, start + 1)
        return None


def _streq(argument: str, context: OperatorContext) -> StrEq:
    return StrEq(byte_text(argument))


def _within(argument: str, context: OperatorContext) -> Within:
    return Within(byte_text(argument))


def _begins_with(argument: str, context: OperatorContext) -> BeginsWith:
    return BeginsWith(byte_text(argument))


def _ends_with(argument: str, context: OperatorContext) -> EndsWith:
    return EndsWith(byte_text(argument))


def _contains(argument: str, context: OperatorContext) -> Contains:
    return Contains(byte_text(argument))


def _contains_word(argument: str, context: OperatorContext) -> ContainsWord:
    return ContainsWord(byte_text(argument))


def _strmatch(argument: str, context: OperatorContext) -> Contains:
    return Contains(byte_text(argument))


register("streq", _streq)
register("within", _within)
register("beginsWith", _begins_with)
register("endsWith", _ends_with)
register("contains", _contains)
register("containsWord", _contains_word)
register("strmatch", _strmatch)
