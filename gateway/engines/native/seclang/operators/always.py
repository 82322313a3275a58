"""``unconditionalMatch`` and ``noMatch``: operators that ignore the value."""

from __future__ import annotations

from dataclasses import dataclass

from rampart.gateway.engines.native.seclang.operators.registry import OperatorContext, OperatorMatch, register

__all__ = ["Always", "Never"]


@dataclass(frozen=True, slots=True)
class Always:
    """Matches every value (the matched text is the value itself)."""

    prefilter: tuple[str, ...] | None = None

    def evaluate(self, value: str) -> OperatorMatch | None:
        return OperatorMatch(value)


@dataclass(frozen=True, slots=True)
class Never:
    """Matches nothing."""

    prefilter: tuple[str, ...] | None = None

    def evaluate(self, value: str) -> OperatorMatch | None:
        return None


def _always(argument: str, context: OperatorContext) -> Always:
    return Always()


def _never(argument: str, context: OperatorContext) -> Never:
    return Never()


register("unconditionalMatch", _always)
register("noMatch", _never)
