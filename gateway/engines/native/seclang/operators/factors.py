"""Required literals of a regex: a few strings of which every match contains at least one.

They make a cheap prefilter: a Hyperscan database of short literals compiles in milliseconds
and scans at memory speed, where the CRS patterns themselves take minutes to compile together
(see the operators' notes). The analysis reads the pattern's Python rendering (PCRE semantics)
with the standard library's own regex parser, and gives up (None) whenever it cannot prove a
requirement: a wrong answer can only come from a bug, never from an unknown construct.

Literals are lower-cased (ASCII) and meant to be matched ignoring ASCII case, a superset of
both case-sensitive and case-insensitive patterns.
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]
from typing import Any

__all__ = ["required_literals"]

MIN_LENGTH = 3
MAX_LITERALS = 64
_MAX_CLASS = 6
_FLAGS = re.ASCII | re.DOTALL | re.MULTILINE

Info = tuple[frozenset[str] | None, frozenset[str] | None]  # (exact strings, required literals)
_EMPTY: frozenset[str] = frozenset({""})


def _lower(code: int) -> str:
    ch = chr(code)
    return ch.lower() if "A" <= ch <= "Z" else ch


def _quality(literals: frozenset[str] | None) -> tuple[int, int]:
    if not literals or len(literals) > MAX_LITERALS:
        return (-1, 0)
    return (min(len(s) for s in literals), -len(literals))


def _best(*choices: frozenset[str] | None) -> frozenset[str] | None:
    best = max(choices, key=_quality, default=None)
    return best if _quality(best)[0] >= MIN_LENGTH else None


def _product(left: frozenset[str], right: frozenset[str]) -> frozenset[str] | None:
    if len(left) * len(right) > MAX_LITERALS:
        return None
    return frozenset(a + b for a in left for b in right)


def _class(items: list[tuple[Any, Any]]) -> frozenset[str] | None:
    chars: set[str] = set()
    for op, av in items:
        if op is sre.LITERAL:
            chars.add(_lower(av))
        elif op is sre.RANGE and av[1] - av[0] < _MAX_CLASS:
            chars.update(_lower(c) for c in range(av[0], av[1] + 1))
        else:
            return None
        if len(chars) > _MAX_CLASS:
            return None
    return frozenset(chars)


def _sequence(items: Any) -> Info:
    run: frozenset[str] = _EMPTY
    candidates: list[frozenset[str] | None] = []
    broken = False
    for item in items:
        exact, need = _item(item)
        combined = _product(run, exact) if exact is not None else None
        if combined is not None:
            run = combined
            continue
        broken = True
        candidates += [run, need]
        run = exact if exact is not None and len(exact) <= MAX_LITERALS else _EMPTY
    candidates.append(run)
    return (None if broken else run), _best(*candidates)


def _branch(branches: list[Any]) -> Info:
    infos = [_sequence(b) for b in branches]
    exact: frozenset[str] | None = None
    if all(e is not None for e, _ in infos):
        union = frozenset().union(*(e for e, _ in infos if e is not None))
        exact = union if len(union) <= MAX_LITERALS else None
    needs = [_best(e, n) for e, n in infos]
    need: frozenset[str] | None = None
    if all(n is not None for n in needs):
        union = frozenset().union(*(n for n in needs if n is not None))
        need = union if len(union) <= MAX_LITERALS else None
    return exact, need


def _repeat(low: int, high: int, body: Any) -> Info:
    exact, need = _sequence(body)
    if high == 0:
        return _EMPTY, None
    if low == 0:
        if high == 1 and exact is not None:
            return exact | _EMPTY, None
        return None, None
    repeated: frozenset[str] | None = None
    if exact is not None and low == high and low <= 3:
        repeated = _EMPTY
        for _ in range(low):
            repeated = _product(repeated, exact) if repeated is not None else None
    return repeated, _best(exact, need)


def _item(item: tuple[Any, Any]) -> Info:
    op, av = item
    if op is sre.LITERAL:
        return frozenset({_lower(av)}), None
    if op is sre.IN:
        return _class(av), None
    if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
        return _EMPTY, None
    if op is sre.SUBPATTERN:
        return _sequence(av[3])
    if op is sre.ATOMIC_GROUP:
        return _sequence(av)
    if op is sre.BRANCH:
        return _branch(av[1])
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        low, high, body = av
        return _repeat(low, high, body)
    return None, None


def required_literals(python_pattern: str) -> tuple[str, ...] | None:
    """Lower-cased literals (at least :data:`MIN_LENGTH` bytes, at most :data:`MAX_LITERALS`
    of them) such that every match of ``python_pattern`` contains one, ignoring ASCII case;
    None if no such set was found."""
    try:
        parsed = sre_parser.parse(python_pattern, _FLAGS)
    except (re.error, RecursionError, OverflowError):
        return None
    exact, need = _sequence(parsed)
    best = _best(exact, need)
    if best is None:
        return None
    kept = [text for text in best if not any(other != text and other in text for other in best)]
    return tuple(sorted(kept))
