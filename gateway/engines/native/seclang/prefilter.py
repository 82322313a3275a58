r"""The fast path: per transformation chain, one multi-pattern matcher, so a rule whose patterns
cannot match a value is never evaluated on it.

Every operator offers ``prefilter`` patterns that match wherever it can (a superset, see
:mod:`gateway.engines.native.seclang.operators`). Rules that share a transformation chain (``t:none,
t:urlDecodeUni,t:lowercase``) see the same transformed values, so their patterns go into one
database; a transaction scans each distinct (chain, transformed value) once and learns which
rules may match it. Rules that are negated, use ``multiMatch``, build their operator per
request (macro argument) or whose operator has no prefilter are always evaluated.

Two matchers share the work. ``@rx`` rules whose operator runs on RE2 go into RE2 sets built
from the operator's own compiled pattern and options, so "no match in the set" is exactly
"the operator does not match" (RE2 sets of at most :data:`SET_CHUNK` patterns, to stay within
RE2's memory budget). Every other operator's ``prefilter`` patterns (``@pm`` phrases,
``@contains`` literals, ...) go into one Hyperscan database per chain. Regex-derived Hyperscan
patterns are not trusted: python-hyperscan 0.9.1 misses ``@.+=\s*\(\s*SELECT`` (part of CRS
rule 942210) on a long argument that RE2 and PCRE match (docs/CRS.md).

The matchers are immutable and shared; Hyperscan scratch space is per thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import hyperscan
import re2

from gateway.engines.native.seclang.operators import PREFILTER_FLAGS

__all__ = ["SET_CHUNK", "ChainDatabase", "Guard", "Prefilters", "build_prefilters"]

SET_CHUNK = 16

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChainDatabase:
    """The patterns of every guarded rule of one transformation chain."""

    chain: tuple[str, ...]
    database: Any  # hyperscan.Database
    slots: tuple[int, ...]  # Hyperscan pattern id -> rule slot


def _on_match(
    pattern_id: int, _start: int, _end: int, _flags: int, context: tuple[tuple[int, ...], set[int]]
) -> None:
    slots, hits = context
    hits.add(slots[pattern_id])


def _compile(patterns: list[str]) -> Any:
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=[p.encode("latin-1") for p in patterns],
        ids=list(range(len(patterns))),
        elements=len(patterns),
        flags=[PREFILTER_FLAGS] * len(patterns),
    )
    return database


@dataclass(frozen=True, slots=True)
class Guard:
    """What the fast path may check for one rule: an RE2 pattern (bytes, with its options) or
    Hyperscan prefilter patterns."""

    slot: int
    chain: tuple[str, ...]
    re2_pattern: bytes | None = None
    re2_options: Any = None
    patterns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChainSets:
    """RE2 sets of one chain: each set with the rule slot of each of its patterns."""

    sets: tuple[tuple[Any, tuple[int, ...]], ...]


class Prefilters:
    """Matchers per chain, and which rule slots they guard."""

    def __init__(
        self,
        databases: dict[tuple[str, ...], ChainDatabase],
        guarded: frozenset[int],
        sets: dict[tuple[str, ...], ChainSets] | None = None,
    ) -> None:
        self.databases = databases
        self.sets = sets or {}
        self.guarded = guarded
        self._local = threading.local()

    def _scratch(self, chain: ChainDatabase) -> Any:
        scratches: dict[tuple[str, ...], Any] | None = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = self._local.scratches = {}
        scratch = scratches.get(chain.chain)
        if scratch is None:
            scratch = scratches[chain.chain] = hyperscan.Scratch(chain.database)
        return scratch

    def candidates(self, chain: tuple[str, ...], value: str) -> frozenset[int]:
        """The rule slots of ``chain`` whose patterns match somewhere in ``value``."""
        data = value.encode("latin-1")
        hits: set[int] = set()
        chain_sets = self.sets.get(chain)
        if chain_sets is not None:
            for matcher, slots in chain_sets.sets:
                for index in matcher.Match(data) or ():
                    hits.add(slots[index])
        found = self.databases.get(chain)
        if found is not None and data:
            found.database.scan(
                data, match_event_handler=_on_match, context=(found.slots, hits), scratch=self._scratch(found)
            )
        return frozenset(hits)


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


def _build_sets(guards: list[Guard]) -> tuple[dict[tuple[str, ...], ChainSets], set[int]]:
    """RE2 sets per chain, one per group of equal options (a set compiles its patterns with
    one set of options)."""
    groups: dict[tuple[tuple[str, ...], tuple[object, ...]], list[Guard]] = {}
    for guard in guards:
        groups.setdefault((guard.chain, _options_key(guard.re2_options)), []).append(guard)
    merged: dict[tuple[str, ...], list[tuple[Any, tuple[int, ...]]]] = {}
    guarded: set[int] = set()
    for (chain, _), members in groups.items():
        for start in range(0, len(members), SET_CHUNK):
            chunk = members[start : start + SET_CHUNK]
            matcher = re2.Set.SearchSet(chunk[0].re2_options)
            try:
                for guard in chunk:
                    matcher.Add(guard.re2_pattern)
                matcher.Compile()
            except re2.error as exc:
                log.info("seclang: no RE2 set for %d rules of chain %s: %s", len(chunk), chain, exc)
                continue
            merged.setdefault(chain, []).append((matcher, tuple(g.slot for g in chunk)))
            guarded.update(g.slot for g in chunk)
    return {chain: ChainSets(tuple(items)) for chain, items in merged.items()}, guarded


def build_prefilters(guards: Iterable[Guard]) -> Prefilters:
    """Matchers for the guards: RE2 sets for those with an RE2 pattern (grouped by options),
    Hyperscan databases for the others. A pattern either matcher refuses leaves its rule
    unguarded (always evaluated)."""
    listed = list(guards)
    sets, set_guarded = _build_sets([g for g in listed if g.re2_pattern is not None])
    groups: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for guard in listed:
        if guard.re2_pattern is None:
            for pattern in guard.patterns:
                groups.setdefault(guard.chain, []).append((guard.slot, pattern))
    databases: dict[tuple[str, ...], ChainDatabase] = {}
    guarded: set[int] = set()
    for chain, grouped in groups.items():
        entries = grouped
        refused: set[int] = set()
        try:
            database = _compile([p for _, p in entries])
        except hyperscan.error:
            for slot, pattern in entries:
                try:
                    _compile([pattern])
                except hyperscan.error:
                    refused.add(slot)
            entries = [(s, p) for s, p in entries if s not in refused]
            if not entries:
                continue
            try:
                database = _compile([p for _, p in entries])
            except hyperscan.error as exc:
                log.info("seclang: no prefilter for chain %s: %s", chain, exc)
                continue
        databases[chain] = ChainDatabase(chain, database, tuple(s for s, _ in entries))
        guarded.update(s for s, _ in entries)
    return Prefilters(databases, frozenset(guarded | set_guarded), sets)
