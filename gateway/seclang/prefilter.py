"""The fast path: one Hyperscan database per transformation chain, so a rule whose patterns
cannot match a value is never evaluated on it.

Every operator offers ``prefilter`` patterns that match wherever it can (a superset, see
:mod:`gateway.seclang.operators`). Rules that share a transformation chain (``t:none,
t:urlDecodeUni,t:lowercase``) see the same transformed values, so their patterns go into one
database; a transaction scans each distinct (chain, transformed value) once and learns which
rules may match it. Rules that are negated, use ``multiMatch``, build their operator per
request (macro argument) or whose operator has no prefilter are always evaluated.

The databases are immutable and shared; Hyperscan scratch space is per thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import hyperscan

from gateway.seclang.operators import PREFILTER_FLAGS

__all__ = ["ChainDatabase", "Prefilters", "build_prefilters"]

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


class Prefilters:
    """Databases per chain, and which rule slots they guard."""

    def __init__(self, databases: dict[tuple[str, ...], ChainDatabase], guarded: frozenset[int]) -> None:
        self.databases = databases
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
        found = self.databases.get(chain)
        if found is None or not value:
            return frozenset()
        hits: set[int] = set()
        found.database.scan(
            value.encode("latin-1"),
            match_event_handler=_on_match,
            context=(found.slots, hits),
            scratch=self._scratch(found),
        )
        return frozenset(hits)


def build_prefilters(rules: Iterable[tuple[int, tuple[str, ...], tuple[str, ...]]]) -> Prefilters:
    """Databases for ``(slot, chain, patterns)`` triples. A pattern Hyperscan refuses in a
    group leaves its rule unguarded (always evaluated)."""
    groups: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for slot, chain, patterns in rules:
        for pattern in patterns:
            groups.setdefault(chain, []).append((slot, pattern))
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
    return Prefilters(databases, frozenset(guarded))
