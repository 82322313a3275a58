"""The native inspection engine: parse, transform, pre-filter with Hyperscan, confirm with the
rule's operator, score.

Rules are loaded and compiled once. They are grouped by transformation chain; each group owns
one Hyperscan database holding every pre-filter pattern of its rules. Per request, each group
transforms the values of the targets its rules look at (results cached across requests for
short values), scans them all in one call (values joined by ``\n\x00\n``; multiline mode keeps
``^``/``$`` a superset of RE2's), and only the (rule, target) pairs the scan flagged reach the
operator. Rules without pre-filter (negations, numeric tests) run on every selected target.

Scoring follows CRS's anomaly mode: each rule counts once, with its severity's points; the
request is ``block`` (block mode) or ``detect`` (detect mode) at or above the threshold, else
``allow`` with its matches listed. Any internal error fails open: ``allow`` with ``error``.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import hyperscan

from gateway.exclusions import Exclusion, load_exclusions
from gateway.model import EngineSettings, RawRequest, RuleMatch, Verdict
from gateway.operators import Operator
from gateway.parsing import ParseLimits, Target, parse_request
from gateway.ruleset import LoadedRule, load_rules, parse_selector
from gateway.transforms import transform_for_scan

__all__ = ["NativeEngine"]

log = logging.getLogger(__name__)

_MATCHED_LIMIT = 256
# Values are scanned joined by this separator: "\n" keeps ^ and $ (multiline mode) at value
# boundaries, and the NUL stops whitespace classes from spanning two values.
_SEPARATOR = b"\n\x00\n"
_SEPARATOR_LEN = len(_SEPARATOR)
_CACHEABLE_VALUE = 512
_CACHE_ENTRIES = 8192
_HS_FLAGS = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_MULTILINE


@dataclass(frozen=True, slots=True)
class _Rule:
    id: int
    rule_id: str
    attack_class: str
    message: str
    severity: str
    score: int
    paranoia: int
    tags: tuple[str, ...]
    selectors: tuple[tuple[str, str | None], ...]
    operator: Operator
    negate: bool
    prefilter: tuple[str, ...] | None

    def selects(self, target: Target) -> bool:
        for collection, key in self.selectors:
            if collection == target.collection and (key is None or key == target.key):
                return True
        return False


@dataclass(slots=True)
class _Group:
    chain: tuple[str, ...]
    rules: list[_Rule] = field(default_factory=list)
    collections: list[str] = field(default_factory=list)
    database: Any = None
    pattern_rules: list[list[_Rule]] = field(default_factory=list)
    always: dict[str, list[_Rule]] = field(default_factory=dict)
    cache: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def transform(self, value: str) -> tuple[str, bytes]:
        """The chain applied to ``value`` and its UTF-8 bytes; short values are cached per group
        (the cache is dropped whole when full, which keeps it bounded and lock-free)."""
        found = self.cache.get(value)
        if found is not None:
            return found
        result = transform_for_scan(self.chain, value)
        if len(value) <= _CACHEABLE_VALUE:
            if len(self.cache) >= _CACHE_ENTRIES:
                self.cache.clear()
            self.cache[value] = result
        return result


_DATABASES: dict[tuple[str, ...], Any] = {}
_DATABASES_LOCK = threading.Lock()


def _compile_database(patterns: list[str]) -> Any:
    """A block-mode Hyperscan database (cached per pattern list: compiling takes ~1 s)."""
    key = tuple(patterns)
    with _DATABASES_LOCK:
        if key not in _DATABASES:
            _DATABASES[key] = _compile_uncached(patterns)
        return _DATABASES[key]


def _compile_uncached(patterns: list[str]) -> Any:
    """Patterns Hyperscan cannot take exactly are compiled in its pre-filter mode (a superset),
    which the operator then confirms."""
    encoded = [p.encode() for p in patterns]
    flags = [_HS_FLAGS] * len(patterns)
    database = hyperscan.Database()
    try:
        database.compile(
            expressions=encoded, ids=list(range(len(encoded))), elements=len(encoded), flags=flags
        )
        return database
    except hyperscan.error:
        pass
    for index, pattern in enumerate(encoded):
        try:
            hyperscan.Database().compile(expressions=[pattern], ids=[0], elements=1, flags=[_HS_FLAGS])
        except hyperscan.error:
            flags[index] = _HS_FLAGS | hyperscan.HS_FLAG_PREFILTER
    database.compile(expressions=encoded, ids=list(range(len(encoded))), elements=len(encoded), flags=flags)
    return database


def _build_groups(rules: Sequence[LoadedRule], paranoia: int) -> list[_Group]:
    groups: dict[tuple[str, ...], _Group] = {}
    for loaded in rules:
        spec = loaded.spec
        if spec.paranoia > paranoia:
            continue
        selectors = tuple(s for selector in spec.targets for s in parse_selector(selector))
        rule = _Rule(
            id=spec.id,
            rule_id=str(spec.id),
            attack_class=spec.attack_class,
            message=spec.message,
            severity=spec.severity,
            score=spec.score,
            paranoia=spec.paranoia,
            tags=spec.tags,
            selectors=selectors,
            operator=loaded.operator,
            negate=spec.negate,
            prefilter=spec.prefilter
            if spec.prefilter is not None
            else getattr(loaded.operator, "prefilter", None),
        )
        group = groups.setdefault(spec.transformations, _Group(chain=spec.transformations))
        group.rules.append(rule)
        for collection, _ in selectors:
            if collection not in group.collections:
                group.collections.append(collection)
    for group in groups.values():
        patterns: dict[str, int] = {}
        for rule in group.rules:
            prefilter = rule.prefilter
            if rule.negate or not prefilter:
                for collection in dict.fromkeys(c for c, _ in rule.selectors):
                    group.always.setdefault(collection, []).append(rule)
                continue
            for pattern in prefilter:
                if pattern not in patterns:
                    patterns[pattern] = len(patterns)
                    group.pattern_rules.append([])
                group.pattern_rules[patterns[pattern]].append(rule)
        if patterns:
            group.database = _compile_database(list(patterns))
    return list(groups.values())


def _on_match(
    pattern: int, _start: int, end: int, _flags: int, context: tuple[list[int], set[tuple[int, int]]]
) -> None:
    """Hyperscan callback: record (pattern, index of the value the match ends in)."""
    starts, hits = context
    hits.add((pattern, bisect_right(starts, max(end - 1, 0)) - 1))


class NativeEngine:
    """The rampart rule engine (see module docstring)."""

    name = "native"

    def __init__(self, settings: EngineSettings, *, rules: Sequence[LoadedRule] | None = None) -> None:
        self.settings = settings
        self.rules = tuple(rules) if rules is not None else load_rules(settings.rules_dir)
        self.exclusions = load_exclusions(settings.exclusions_file)
        self.limits = ParseLimits(body_limit=settings.body_limit)
        self._groups = _build_groups(self.rules, settings.paranoia)
        self.active_rule_count = sum(len(g.rules) for g in self._groups)
        self._local = threading.local()

    def close(self) -> None:
        """Nothing to release; present for the protocol."""
        self._groups = []

    def inspect(self, request: RawRequest) -> Verdict:
        """Inspect one request; never raises."""
        started = time.perf_counter()
        try:
            matches = self._evaluate(request)
        except Exception as exc:  # fail open, loudly: the proxy counts verdicts with error set
            log.exception("native engine failed on request %s", request.request_id or "-")
            return Verdict(
                engine=self.name,
                score=0,
                threshold=self.settings.threshold,
                elapsed_us=(time.perf_counter() - started) * 1e6,
                error=f"{type(exc).__name__}: {exc}",
            )
        return Verdict(
            engine=self.name,
            score=sum(m.score for m in matches),
            threshold=self.settings.threshold,
            matches=tuple(matches),
            elapsed_us=(time.perf_counter() - started) * 1e6,
        )

    def _evaluate(self, request: RawRequest) -> list[RuleMatch]:
        parsed = parse_request(request, self.limits)
        by_collection: dict[str, list[Target]] = {}
        for target in parsed.targets:
            by_collection.setdefault(target.collection, []).append(target)
        excluded = self.exclusions.active(parsed.path, request.method) if self.exclusions.entries else ()
        fired: dict[int, RuleMatch] = {}
        for group in self._groups:
            self._run_group(group, by_collection, excluded, fired)
        return list(fired.values())

    def _run_group(
        self,
        group: _Group,
        by_collection: dict[str, list[Target]],
        excluded: tuple[Exclusion, ...],
        fired: dict[int, RuleMatch],
    ) -> None:
        """Transform the distinct values of the group's collections, scan them in one call, and
        confirm the pre-filter hits (plus the group's rules without pre-filter)."""
        present = [by_collection[c] for c in group.collections if c in by_collection]
        if not present:
            return
        distinct = list(dict.fromkeys(t.value for targets in present for t in targets))
        cache = group.cache
        transformed = [cache.get(value) or group.transform(value) for value in distinct]
        if group.database is not None:
            encoded = [raw for _, raw in transformed]
            starts = list(accumulate((len(raw) + _SEPARATOR_LEN for raw in encoded), initial=0))
            hits: set[tuple[int, int]] = set()
            group.database.scan(
                _SEPARATOR.join(encoded),
                match_event_handler=_on_match,
                context=(starts, hits),
                scratch=self._scratch(group),
            )
            if hits:
                owners: dict[str, list[Target]] = {}
                for targets in present:
                    for target in targets:
                        owners.setdefault(target.value, []).append(target)
                for pattern, slot in sorted(hits):
                    text = transformed[slot][0]
                    for rule in group.pattern_rules[pattern]:
                        for target in owners[distinct[slot]]:
                            self._try(rule, target, text, excluded, fired)
        if group.always:
            texts = dict(zip(distinct, (text for text, _ in transformed), strict=True))
            for collection, rules in group.always.items():
                for target in by_collection.get(collection, ()):
                    for rule in rules:
                        self._try(rule, target, texts[target.value], excluded, fired)

    def _scratch(self, group: _Group) -> Any:
        """Hyperscan scratch space for this thread and database (scratch is not shareable)."""
        scratches: dict[int, Any] | None = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = self._local.scratches = {}
        scratch = scratches.get(id(group))
        if scratch is None:
            scratch = scratches[id(group)] = hyperscan.Scratch(group.database)
        return scratch

    @staticmethod
    def _try(
        rule: _Rule, target: Target, value: str, excluded: tuple[Exclusion, ...], fired: dict[int, RuleMatch]
    ) -> None:
        if rule.id in fired or not rule.selects(target):
            return
        if excluded and any(e.covers(rule.id, rule.attack_class, target) for e in excluded):
            return
        found = rule.operator.match(value)
        if rule.negate:
            if found is not None:
                return
            found = value
        elif found is None:
            return
        fired[rule.id] = RuleMatch(
            rule_id=rule.rule_id,
            attack_class=rule.attack_class,
            message=rule.message,
            severity=rule.severity,
            score=rule.score,
            target=target.name,
            matched=found[:_MATCHED_LIMIT],
            paranoia=rule.paranoia,
            tags=rule.tags,
        )
