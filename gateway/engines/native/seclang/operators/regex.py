"""``rx``: a PCRE pattern run on a linear-time pipeline.

Matching: RE2 (latin-1 mode) runs the translated pattern and supplies the match and the
captures; what RE2 cannot run (backreferences, lookaround, repetition counts above 1000)
falls back to Python ``re`` with PCRE's semantics on the value cut to
:data:`FALLBACK_INPUT_LIMIT` bytes, so a pathological backtracking case stays bounded by that
size; every fallback evaluation and every cut is counted in :data:`FALLBACK_COUNTS`.

Prefilter: the pattern's required literals (:mod:`.factors`; every match contains one of
them, matched ignoring ASCII case): cheap to compile and to scan. Without such literals,
None (the operator is always evaluated), and likewise when the pattern can match the empty
string. The translated pattern itself (:attr:`Regex.hyperscan_pattern`) is NOT offered as a
prefilter while :data:`PATTERN_PREFILTERS` is False: python-hyperscan 0.9.1 misses real
matches of some CRS patterns in every mode (``@.+=\\s*\\(`` finds nothing in
``@_mmcdirectmailsubscription_subscr[__referrer][@vendor]=(``, which loses CRS 942210), and a
database of all CRS 4.28.0 patterns takes tens of seconds to compile, against 0.1 s for the
literals.

Tier (for reports, computed on demand): ``exact`` when Hyperscan compiles the whole pattern
exactly, ``prefilter`` when only in prefilter mode (or the pattern has possessive/atomic
constructs read as plain ones, or Hyperscan cannot take it at all), ``fallback`` when Python
``re`` runs it.

See :mod:`rampart.gateway.engines.native.seclang.operators.pcre` for the translation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import hyperscan
import re2

from rampart.gateway.engines.native.seclang.operators.factors import required_literals
from rampart.gateway.engines.native.seclang.operators.literals import byte_text, literal_pattern
from rampart.gateway.engines.native.seclang.operators.pcre import PatternError, Translation, translate
from rampart.gateway.engines.native.seclang.operators.registry import (
    PREFILTER_FLAGS,
    OperatorContext,
    OperatorMatch,
    register,
)

__all__ = [
    "FALLBACK_COUNTS",
    "FALLBACK_INPUT_LIMIT",
    "PATTERN_PREFILTERS",
    "FallbackCounts",
    "Regex",
    "Tier",
    "compile_rx",
    "pattern_tier",
]

Tier = Literal["exact", "prefilter", "fallback"]

FALLBACK_INPUT_LIMIT = 4096
"""Bytes of a value the Python ``re`` fallback looks at (the rest is not inspected)."""

PATTERN_PREFILTERS = False
"""Offer the whole translated pattern as the prefilter when no literals are found (see above)."""

_MAX_CAPTURES = 9
_EXACT_FLAGS = int(hyperscan.HS_FLAG_DOTALL | hyperscan.HS_FLAG_MULTILINE | hyperscan.HS_FLAG_SINGLEMATCH)
_PY_FLAGS = re.ASCII | re.DOTALL | re.MULTILINE


@dataclass(slots=True)
class FallbackCounts:
    """How often the Python ``re`` fallback ran, and how often it saw a cut value."""

    evaluations: int = 0
    truncated: int = 0


FALLBACK_COUNTS = FallbackCounts()


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    options.max_mem = 64 << 20
    return options


_RE2_OPTIONS = _re2_options()


def _hs_compiles(pattern: str, flags: int) -> bool:
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        database.compile(expressions=[pattern.encode("latin-1")], ids=[0], flags=[flags])
    except hyperscan.error:
        return False
    return True


def _to_bytes(value: str) -> bytes:
    return value.encode("latin-1", "replace")


_UNANCHORED: Any = re2._Anchor.UNANCHORED
_NO_SPAN = (-1, -1)


def re2_spans(compiled: re2._Regexp, data: bytes, pos: int = 0) -> list[tuple[int, int]] | None:
    """The leftmost match of ``compiled`` in ``data`` at or after ``pos``: the span of the
    whole match, then of each group (``(-1, -1)`` for a group that took no part), or None.
    The call the ``re2`` module's own ``search`` makes for bytes, without the generator and
    match object it wraps around it (per evaluation, that wrapper cost more than the match)."""
    spans: list[tuple[int, int]] = getattr(compiled, "_regexp").Match(_UNANCHORED, data, pos, len(data))  # noqa: B009
    return None if spans[0] == _NO_SPAN else spans


@dataclass(frozen=True, slots=True)
class Regex:
    """A compiled ``@rx`` pattern (build it with :func:`compile_rx`)."""

    pattern: str
    prefilter: tuple[str, ...] | None
    hyperscan_pattern: str
    _re2: re2._Regexp | None
    _python: re.Pattern[str] | None
    _re2_at_start: re2._Regexp | None = None

    @property
    def tier(self) -> Tier:
        """Where the pattern lands: ``exact``, ``prefilter`` or ``fallback`` (see the module)."""
        return pattern_tier(self.pattern)

    def search_from(self, value: str, pos: int) -> tuple[int, str] | None:
        """The leftmost match starting at or after ``pos``: its start and text."""
        if self._re2 is not None:
            data = _to_bytes(value)
            spans = re2_spans(self._re2, data, min(pos, len(data)))
            return None if spans is None else (spans[0][0], data[spans[0][0] : spans[0][1]].decode("latin-1"))
        assert self._python is not None
        FALLBACK_COUNTS.evaluations += 1
        if len(value) > FALLBACK_INPUT_LIMIT:
            FALLBACK_COUNTS.truncated += 1
            value = value[:FALLBACK_INPUT_LIMIT]
        hit = self._python.search(value, pos)
        return None if hit is None else (hit.start(), hit.group(0))

    def evaluate(self, value: str) -> OperatorMatch | None:
        if self._re2 is not None:
            data = _to_bytes(value)
            spans = re2_spans(self._re2, data)
            at_end = spans is not None and spans[0][0] == len(data) > 0 and data.endswith(b"\n")
            if at_end and self._re2_at_start is not None:
                spans = re2_spans(self._re2_at_start, data, len(data))
            if spans is None:
                return None
            captures = tuple(
                "" if span == _NO_SPAN else data[span[0] : span[1]].decode("latin-1")
                for span in spans[: _MAX_CAPTURES + 1]
            )
            return OperatorMatch(captures[0], captures)
        assert self._python is not None
        FALLBACK_COUNTS.evaluations += 1
        if len(value) > FALLBACK_INPUT_LIMIT:
            FALLBACK_COUNTS.truncated += 1
            value = value[:FALLBACK_INPUT_LIMIT]
        hit = self._python.search(value)
        if hit is None:
            return None
        captures = tuple("" if g is None else g for g in (hit.group(0), *hit.groups()[:_MAX_CAPTURES]))
        return OperatorMatch(captures[0], captures)


def _compile_re2(pattern: str | None) -> re2._Regexp | None:
    if pattern is None:
        return None
    try:
        return re2.compile(("(?sm)" + pattern).encode("latin-1"), _RE2_OPTIONS)
    except re2.error:
        return None


def _translate(pattern: str) -> Translation:
    try:
        return translate(byte_text(pattern))
    except PatternError as exc:
        raise ValueError(f"@rx: {exc}") from None


@lru_cache(maxsize=4096)
def compile_rx(pattern: str) -> Regex:
    """``pattern`` (PCRE as written in the rule) compiled; ``ValueError`` if no tier can run it."""
    translation = _translate(pattern)
    confirm = _compile_re2(translation.re2)
    python: re.Pattern[str] | None = None
    if confirm is None:
        try:
            python = re.compile(translation.python, _PY_FLAGS)
        except (re.error, OverflowError, RecursionError) as exc:
            raise ValueError(f"@rx: {pattern!r} compiles in neither RE2 nor Python re: {exc}") from None
    matches_empty = (
        (confirm.search(b"") is not None)
        if confirm is not None
        else (python is not None and python.search("") is not None)
    )
    prefilter: tuple[str, ...] | None = None
    if not matches_empty:
        literals = required_literals(translation.python)
        if literals is not None:
            prefilter = tuple(literal_pattern(text, caseless=True) for text in literals)
        elif PATTERN_PREFILTERS and _hs_compiles(translation.hyperscan, PREFILTER_FLAGS):
            prefilter = (translation.hyperscan,)
    at_start = _compile_re2(translation.re2_at_start) if confirm is not None else None
    return Regex(pattern, prefilter, translation.hyperscan, confirm, python, at_start)


@lru_cache(maxsize=4096)
def pattern_tier(pattern: str) -> Tier:
    """The tier of ``pattern`` (compiles it with Hyperscan: slow for big patterns)."""
    translation = _translate(pattern)
    if _compile_re2(translation.re2) is None:
        return "fallback"
    if not translation.approximate and _hs_compiles(translation.hyperscan, _EXACT_FLAGS):
        return "exact"
    return "prefilter"


def _rx(argument: str, context: OperatorContext) -> Regex:
    return compile_rx(argument)


register("rx", _rx)
