r"""The fast path: a rule whose patterns cannot match a value is never evaluated on it.

Which values a rule sees depends on its transformation chain, but whether a pattern occurs in
a value does not: the matchers are keyed by the (transformed) value alone, so a value that
several chains leave the same (most benign values: the chains only lower-case them, or
change nothing) is scanned once for every rule, whatever its chain. A transaction caches
every answer per value.

Two matchers share the work, and both answer exactly "may this rule match", never less:

- **Literals** (Hyperscan, one database for the whole rule set): the ``prefilter`` patterns
  every operator offers (see :mod:`rampart.gateway.engines.native.seclang.operators`), which for
  ``@rx`` are the pattern's required literals (:mod:`.operators.factors`: every match
  contains one of them, proved from the pattern's syntax tree, matched ignoring ASCII case)
  and for ``@pm``/``@contains``/``@streq``/... the operator's own strings. One scan per
  distinct value gives every rule slot whose literal occurs. Hyperscan only ever matches
  literals here (the whole-regex prefilter of python-hyperscan 0.9.1 misses a CRS 942210
  match, docs/CRS.md).
- **RE2 sets** for ``@rx`` rules without required literals: each set holds at most
  :data:`SET_CHUNK` consecutive rules' own RE2 patterns with the operator's options, so "no
  match in the set" is exactly "the operator does not match". A set is scanned on a value
  only when one of its rules is reached: rules that a paranoia-level ``skipAfter`` jumps over
  cost nothing.

Rules that are negated, use ``multiMatch``, build their operator per request (macro argument)
or have neither literals nor an RE2 pattern are always evaluated. The matchers are immutable
and shared; Hyperscan scratch space is per thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import hyperscan
import re2

from rampart.gateway.engines.native.seclang.operators import PREFILTER_FLAGS

__all__ = ["SET_CHUNK", "Guard", "Prefilters", "build_prefilters"]

SET_CHUNK = 16
_NONE: frozenset[int] = frozenset()

log = logging.getLogger(__name__)


def _on_match(slot: int, _start: int, _end: int, _flags: int, hits: set[int]) -> None:
    hits.add(slot)


def _compile(entries: list[tuple[int, str]]) -> Any:
    """One database; a pattern's id is its rule's slot, so with ``HS_FLAG_SINGLEMATCH`` a scan
    reports each rule once however many of its literals occur."""
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=[p.encode("latin-1") for _, p in entries],
        ids=[slot for slot, _ in entries],
        elements=len(entries),
        flags=[PREFILTER_FLAGS] * len(entries),
    )
    return database


def to_bytes(value: str) -> bytes:
    """A value as the matchers scan it (the operators encode the same way)."""
    return value.encode("latin-1", "replace")


@dataclass(frozen=True, slots=True)
class Guard:
    """What the fast path may check for one rule: an RE2 pattern (bytes, with its options) or
    literal prefilter patterns."""

    slot: int
    chain: tuple[str, ...] = ()
    re2_pattern: bytes | None = None
    re2_options: Any = None
    patterns: tuple[str, ...] = ()


class Prefilters:
    """The literal database and the RE2 sets, and which rule slots each guards."""

    def __init__(
        self,
        database: Any,
        pattern_slots: tuple[int, ...],
        sets: tuple[tuple[Any, tuple[int, ...]], ...],
    ) -> None:
        self.database = database  # hyperscan.Database or None
        self.pattern_slots = pattern_slots  # the rule slot of each Hyperscan pattern (its id)
        self.sets = sets  # per set: the matcher and the rule slot of each of its patterns
        self.literal_slots = frozenset(pattern_slots)
        self.set_of: dict[int, int] = {slot: index for index, (_, slots) in enumerate(sets) for slot in slots}
        self.guarded = self.literal_slots | frozenset(self.set_of)
        self._local = threading.local()

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self.database)
        return scratch

    def literal_hits(self, data: bytes) -> frozenset[int]:
        """The literal-guarded rule slots one of whose literals occurs in ``data``."""
        if self.database is None or not data:
            return frozenset()
        hits: set[int] = set()
        self.database.scan(data, match_event_handler=_on_match, context=hits, scratch=self._scratch())
        return frozenset(hits)

    def set_hits(self, index: int, data: bytes) -> frozenset[int]:
        """The rule slots of RE2 set ``index`` whose pattern matches ``data``."""
        matcher, slots = self.sets[index]
        # the wrapped set's own Match (re2.Set.Match only adds a type check around it)
        found = matcher._set.Match(data)
        return frozenset(slots[i] for i in found) if found else _NONE

    def candidates(self, slot: int, value: str) -> bool:
        """Whether the rule in ``slot`` may match ``value`` (uncached; True if unguarded)."""
        data = to_bytes(value)
        if slot in self.literal_slots:
            return slot in self.literal_hits(data)
        index = self.set_of.get(slot)
        return index is None or slot in self.set_hits(index, data)


_OPTION_FIELDS = (
    "encoding",
    "posix_syntax",
    "longest_match",
    "literal",
    "never_nl",
    "dot_nl",
    "never_capture",
    "case_sensitive",
    "perl_classes",
    "word_boundary",
    "one_line",
    "max_mem",
)


def _options_key(options: Any) -> tuple[object, ...]:
    return tuple(str(getattr(options, name, None)) for name in _OPTION_FIELDS)


def _build_sets(guards: list[Guard]) -> list[tuple[Any, tuple[int, ...]]]:
    """RE2 sets of at most :data:`SET_CHUNK` guards each, consecutive in slot (rule file)
    order, one group per set of options (a set compiles its patterns with one set of
    options). A chunk RE2 refuses leaves its rules unguarded."""
    groups: dict[tuple[object, ...], list[Guard]] = {}
    for guard in sorted(guards, key=lambda g: g.slot):
        groups.setdefault(_options_key(guard.re2_options), []).append(guard)
    out: list[tuple[Any, tuple[int, ...]]] = []
    for members in groups.values():
        for start in range(0, len(members), SET_CHUNK):
            chunk = members[start : start + SET_CHUNK]
            matcher = re2.Set.SearchSet(chunk[0].re2_options)
            try:
                for guard in chunk:
                    matcher.Add(guard.re2_pattern)
                matcher.Compile()
            except re2.error as exc:
                log.info("seclang: no RE2 set for %d rules: %s", len(chunk), exc)
                continue
            out.append((matcher, tuple(g.slot for g in chunk)))
    return out


def build_prefilters(guards: Iterable[Guard]) -> Prefilters:
    """Matchers for the guards: RE2 sets for those with an RE2 pattern (grouped by options),
    one Hyperscan database for the literal patterns of the others. A pattern either matcher
    refuses leaves its rule unguarded (always evaluated)."""
    listed = list(guards)
    sets = _build_sets([g for g in listed if g.re2_pattern is not None])
    entries = [(g.slot, p) for g in listed if g.re2_pattern is None for p in g.patterns]
    database: Any = None
    if entries:
        try:
            database = _compile(entries)
        except hyperscan.error:
            refused: set[int] = set()
            for slot, pattern in entries:
                try:
                    _compile([(slot, pattern)])
                except hyperscan.error:
                    refused.add(slot)
            entries = [(s, p) for s, p in entries if s not in refused]
            try:
                database = _compile(entries) if entries else None
            except hyperscan.error as exc:
                log.info("seclang: no literal prefilter: %s", exc)
                database, entries = None, []
    return Prefilters(database, tuple(s for s, _ in entries), tuple(sets))
