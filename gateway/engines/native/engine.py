"""The native inspection engine: parse, transform, pre-filter with Hyperscan, confirm with the
rule's operator, score.

Rules are loaded and compiled once. They are grouped by transformation chain; each group owns
one Hyperscan database holding every pre-filter pattern of its rules. A value's pre-filter hits
depend on the value and the group alone, so they are kept across requests for short values
(the *value cache*: per value, the groups it was scanned with and the patterns each one hit;
most values of benign traffic, header values above all, repeat and hit nothing). Per request,
every value a group's pre-filtered rules read is looked up there; each group transforms the
values it still has to scan (results cached across requests for short values) and scans them
in one call (values joined by ``\n\x00\n``; multiline mode keeps ``^``/``$`` at value
boundaries and no pattern uses ``\\A`` or ``\\z``, so a value's hits in the joined scan are the
ones it has alone, plus any match spanning a separator, which only reaches an operator that
judges the value alone). Only groups with a hit confirm: the (rule, target) pairs a hit
flagged reach the operator, in the order of the patterns and of the values over the group's
collections; a short value an operator refused is remembered per rule (the *refusal cache*: a
hex session id that looks like the start of SQL to a pre-filter is tokenized once, not on
every request). A long value is scanned alone against a twin database compiled with
``HS_FLAG_SINGLEMATCH``: each pattern reports once, so 1 MiB of ``//`` costs one callback per
pattern instead of one per occurrence. Rules without pre-filter (negations, numeric tests) run
on every selected target.

Scoring follows CRS's anomaly mode: each rule counts once, with its severity's points; the
request is ``block`` (block mode) or ``detect`` (detect mode) at or above the threshold, else
``allow`` with its matches listed. Any internal error fails open: ``allow`` with ``error``.

Inspection has a time budget (``budget_ms`` of the inspecting thread's CPU time), checked
cooperatively between request parsing stages (and every few hundred values, JSON nodes or XML
elements while parsing), groups, values, transformation steps of long values and rule
confirmations: past the deadline the engine stops, keeps what already fired and adds the
match ``budget_exceeded`` (scoring the threshold when ``over_budget`` is ``block``, nothing when
it is ``allow``); the verdict says ``budget_exceeded``. No thread is interrupted: a single
transformation or operator call finishes first, which is why each is linear in its input.

The engine is safe to call from several threads at once (``thread_safe``): compiled rules are
read-only, Hyperscan scratch space is per thread, the transformation caches are a bounded
``lru_cache`` and per-group dicts whose single operations are atomic, and a value cache record
is immutable (replaced whole, so a lost race costs a rescan, never a hit).
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

from rampart.gateway.engines.native import transforms
from rampart.gateway.engines.native.budget import Deadline, OverBudget, budget_match
from rampart.gateway.engines.native.exclusions import Exclusion, load_exclusions, yaml_exclusion_files
from rampart.gateway.engines.native.operators import Operator
from rampart.gateway.engines.native.parsing import ParseLimits, Target, parse_request
from rampart.gateway.engines.native.plain import YAML_IDENTITY, YAML_TRIGGERS, char_mask, is_plain
from rampart.gateway.engines.native.ruleset import LoadedRule, load_rule_set, parse_selector
from rampart.gateway.engines.native.transforms import transform_for_scan
from rampart.gateway.model import EngineSettings, RawRequest, RuleMatch, Verdict

__all__ = ["NativeEngine"]

log = logging.getLogger(__name__)

_MATCHED_LIMIT = 256
# Values are scanned joined by this separator: "\n" keeps ^ and $ (multiline mode) at value
# boundaries, and the NUL stops whitespace classes from spanning two values.
_SEPARATOR = b"\n\x00\n"
_SEPARATOR_LEN = len(_SEPARATOR)
_CACHEABLE_VALUE = 512
_JOINED_VALUE = 4096  # longer values are scanned alone, each pattern reporting once
_CACHE_ENTRIES = 8192
_VALUE_ENTRIES = 8192  # values whose pre-filter hits are kept (the cache is dropped whole when full)
_REFUSED_ENTRIES = 8192  # (rule, value) pairs an operator refused, kept likewise
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
    single: Any = None  # the same patterns with HS_FLAG_SINGLEMATCH, for long values
    pattern_rules: list[list[_Rule]] = field(default_factory=list)
    always: dict[str, list[_Rule]] = field(default_factory=dict)
    cache: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    rank: dict[str, int] = field(default_factory=dict)  # collection -> its place in collections
    plain: bool = False  # the chain leaves a plain value as it is (see _plain_chain)
    triggers: int = -1  # what the chain's steps act on (see _chain_triggers; -1: anything)

    def transform(self, value: str, deadline: Deadline, steps: _Steps) -> tuple[str, bytes]:
        """The chain applied to ``value`` and its UTF-8 bytes; short values are cached per group
        (the cache is dropped whole when full, which keeps it bounded and lock-free). A long
        value runs the chain one step at a time, checking the deadline between steps and
        starting from the longest prefix of the chain another group already ran on it in this
        request (``steps``: most chains begin with ``url_decode``)."""
        found = self.cache.get(value)
        if found is not None:
            return found
        triggers = self.triggers
        if (triggers >= 0 and not triggers & char_mask(value)) or (self.plain and is_plain(value)):
            return value, value.encode()
        if len(value) > _CACHEABLE_VALUE:
            text, done = value, 0
            for k in range(len(self.chain), 0, -1):
                known = steps.get((self.chain[:k], value))
                if known is not None:
                    text, done = known, k
                    break
            for k in range(done, len(self.chain)):
                deadline.check()
                text = transforms.get(self.chain[k])(text)[0]
                steps[(self.chain[: k + 1], value)] = text
            return text, text.encode("utf-8", "replace")
        result = transform_for_scan(self.chain, value)
        if len(value) <= _CACHEABLE_VALUE:
            if len(self.cache) >= _CACHE_ENTRIES:
                self.cache.clear()
            self.cache[value] = result
        return result


_Steps = dict[tuple[tuple[str, ...], str], str]  # (chain prefix, long value) -> its result, per request
# A value's pre-filter record: (groups it was scanned with, groups it hit, the pattern ids it hit
# per group). Immutable: a record is replaced whole, never updated in place.
_Record = tuple[int, int, tuple[tuple[int, ...], ...]]

# the functions the plain steps are registered as on import (one registered in place of one
# of them later is not trusted to leave plain values alone)
_BUILT_IN: dict[str, transforms.Transform] = {name: transforms.get(name) for name in YAML_IDENTITY}

_DATABASES: dict[tuple[str, ...], Any] = {}
_DATABASES_LOCK = threading.Lock()


def _compile_database(patterns: list[str], *, single: bool = False) -> Any:
    """A block-mode Hyperscan database (cached per pattern list: compiling takes ~1 s)."""
    key = (*patterns, "\x00single" if single else "\x00all")
    with _DATABASES_LOCK:
        if key not in _DATABASES:
            _DATABASES[key] = _compile_uncached(patterns, hyperscan.HS_FLAG_SINGLEMATCH if single else 0)
        return _DATABASES[key]


def _compile_uncached(patterns: list[str], extra: int = 0) -> Any:
    """Patterns Hyperscan cannot take exactly are compiled in its pre-filter mode (a superset),
    which the operator then confirms."""
    encoded = [p.encode() for p in patterns]
    flags = [_HS_FLAGS | extra] * len(patterns)
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
            flags[index] = _HS_FLAGS | hyperscan.HS_FLAG_PREFILTER | extra
    database.compile(expressions=encoded, ids=list(range(len(encoded))), elements=len(encoded), flags=flags)
    return database


def _plain_chain(chain: tuple[str, ...]) -> bool:
    """Whether every step of ``chain`` is a built-in transformation that leaves a plain value
    as it is (rampart.gateway.engines.native.plain), as registered now: the engine reads
    the registry once, when it is built (its caches assume as much)."""
    return all(name in YAML_IDENTITY and transforms.get(name) is _BUILT_IN[name] for name in chain)


def _chain_triggers(chain: tuple[str, ...]) -> int:
    """What the steps of ``chain`` act on (rampart.gateway.engines.native.plain.char_mask): a
    value holding none of it is left as it is. -1 when a step may change any value (one not
    listed there, or registered in place of a built-in one)."""
    triggers = 0
    for name in chain:
        step = YAML_TRIGGERS.get(name, -1)
        if step < 0 or transforms.get(name) is not _BUILT_IN.get(name):
            return -1
        triggers |= step
    return triggers


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
        group.plain = _plain_chain(group.chain)
        group.triggers = _chain_triggers(group.chain)
        group.rank = {collection: place for place, collection in enumerate(group.collections)}
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
            group.single = _compile_database(list(patterns), single=True)
    return list(groups.values())


def _by_place(owner: tuple[int, int, Target]) -> tuple[int, int]:
    return owner[0], owner[1]


def _by_hit(hit: tuple[int, tuple[int, int], str]) -> tuple[int, tuple[int, int]]:
    return hit[0], hit[1]


def _on_match(
    pattern: int, _start: int, end: int, _flags: int, context: tuple[list[int], set[tuple[int, int]]]
) -> None:
    """Hyperscan callback: record (pattern, index of the value the match ends in)."""
    starts, hits = context
    hits.add((pattern, bisect_right(starts, max(end - 1, 0)) - 1))


def _on_single(pattern: int, _start: int, _end: int, _flags: int, context: set[int]) -> None:
    """Hyperscan callback for one long value scanned alone: record the pattern."""
    context.add(pattern)


class NativeEngine:
    """The rampart rule engine (see module docstring)."""

    name = "native"
    thread_safe = True

    def __init__(self, settings: EngineSettings, *, rules: Sequence[LoadedRule] | None = None) -> None:
        self.settings = settings
        self.rules = (
            tuple(rules)
            if rules is not None
            else load_rule_set(settings.rules_dir, shipped=settings.shipped_rules)
        )
        self.exclusions = load_exclusions(yaml_exclusion_files(settings))
        self.limits = ParseLimits(body_limit=settings.body_limit)
        self._groups = _build_groups(self.rules, settings.paranoia)
        self.active_rule_count = sum(len(g.rules) for g in self._groups)
        self._local = threading.local()
        # collection -> the groups whose pre-filtered rules select it (bit i: group i)
        self._scan_masks: dict[str, int] = {}
        for index, group in enumerate(self._groups):
            for rule in group.rules:
                if rule.negate or not rule.prefilter:
                    continue
                for collection, _ in rule.selectors:
                    self._scan_masks[collection] = self._scan_masks.get(collection, 0) | 1 << index
        # collection -> per group, the patterns (bit p: pattern p) that some rule reading it owns
        self._relevant: dict[str, list[int]] = {}
        for index, group in enumerate(self._groups):
            for pattern, owners in enumerate(group.pattern_rules):
                for rule in owners:
                    for collection, _ in rule.selectors:
                        bits = self._relevant.setdefault(collection, [0] * len(self._groups))
                        bits[index] |= 1 << pattern
        self._always_collections = frozenset(c for g in self._groups for c in g.always)
        # (rule id, transformed value) -> None: short values the rule's operator refused after
        # a pre-filter hit (operators judge the value alone; a hex session id that looks like
        # the start of SQL to a pre-filter is tokenized once, not on every request)
        self._refused: dict[tuple[int, str], None] = {}
        self._no_hits: tuple[tuple[int, ...], ...] = ((),) * len(self._groups)
        self._values: dict[str, _Record] = {}  # short value -> its pre-filter record

    def close(self) -> None:
        """Nothing to release; present for the protocol."""
        self._groups = []
        self._scan_masks = {}
        self._always_collections = frozenset()
        self._values = {}
        self._relevant = {}
        self._refused = {}

    def inspect(self, request: RawRequest) -> Verdict:
        """Inspect one request; never raises."""
        started = time.perf_counter()
        deadline = Deadline(self.settings.budget_ms)  # reads the thread's CPU clock (a system call) once
        fired: dict[int, RuleMatch] = {}
        over = False
        try:
            self._evaluate(request, deadline, fired)
        except OverBudget:
            over = True
            fired[-1] = self._budget_match(time.thread_time() - deadline.cpu_start)
        except Exception as exc:  # fail open, loudly: the proxy counts verdicts with error set
            log.exception("native engine failed on request %s", request.request_id or "-")
            return Verdict(
                engine=self.name,
                score=0,
                threshold=self.settings.threshold,
                elapsed_us=(time.perf_counter() - started) * 1e6,
                error=f"{type(exc).__name__}: {exc}",
            )
        matches = tuple(fired.values())
        return Verdict(
            engine=self.name,
            score=sum(m.score for m in matches) if matches else 0,
            threshold=self.settings.threshold,
            matches=matches,
            elapsed_us=(time.perf_counter() - started) * 1e6,
            budget_exceeded=over,
        )

    def _budget_match(self, elapsed: float) -> RuleMatch:  # elapsed: CPU seconds
        return budget_match(self.settings, elapsed)

    def _evaluate(self, request: RawRequest, deadline: Deadline, fired: dict[int, RuleMatch]) -> None:
        """Look every scanned value up in the value cache, scan the values (or the groups of
        a value) it does not know, then confirm the groups that hit and run the rules without
        pre-filter, group by group in rule-file order."""
        parsed = parse_request(request, self.limits, deadline.check)
        masks = self._scan_masks
        always_collections = self._always_collections
        known = self._values
        hit = 0  # groups with a pre-filter hit on a value of a collection they scan
        hot: dict[str, _Record] = {}  # value -> its record, for the values that hit a group
        wanted: dict[str, int] | None = None  # value -> groups it needs, for values not fully known
        always: dict[str, list[Target]] | None = None
        for target in parsed.targets:
            collection = target.collection
            if collection in always_collections:
                if always is None:
                    always = {}
                always.setdefault(collection, []).append(target)
            need = masks.get(collection, 0)
            if not need:
                continue
            value = target.value
            record = known.get(value)
            if record is not None and record[0] & need == need:
                if record[1] & need:
                    found = self._hits_for(record, need, collection)
                    if found:
                        hit |= found
                        hot[value] = record
                continue
            if wanted is None:
                wanted = {}
            wanted[value] = wanted.get(value, 0) | need
        if wanted:
            scanned = self._scan_unknown(wanted, deadline)
            for target in parsed.targets:
                record = scanned.get(target.value)
                if record is not None and record[1]:
                    collection = target.collection
                    found = self._hits_for(record, masks.get(collection, 0), collection)
                    if found:
                        hit |= found
                        hot[target.value] = record
        excluded = self.exclusions.active(parsed.path, request.method) if self.exclusions.entries else ()
        steps: _Steps = {}
        for index, group in enumerate(self._groups):
            deadline.check()
            if hit >> index & 1:
                self._confirm(
                    group,
                    index,
                    targets=parsed.targets,
                    hot=hot,
                    excluded=excluded,
                    fired=fired,
                    deadline=deadline,
                    steps=steps,
                )
            if always is not None and group.always:
                for collection, rules in group.always.items():
                    for target in always.get(collection, ()):
                        deadline.check()
                        text = group.transform(target.value, deadline, steps)[0]
                        for rule in rules:
                            self._try(rule, target, text, excluded, fired)

    def _hits_for(self, record: _Record, need: int, collection: str) -> int:
        """The groups of ``need`` in which ``record`` hit a pattern that a rule reading
        ``collection`` owns (a header value can hit a pattern only argument rules own)."""
        relevant = self._relevant.get(collection)
        if relevant is None:
            return 0
        out = 0
        groups = record[1] & need
        for index, patterns in enumerate(record[2]):
            if groups >> index & 1 and any(relevant[index] >> pattern & 1 for pattern in patterns):
                out |= 1 << index
        return out

    def _scan_unknown(self, wanted: dict[str, int], deadline: Deadline) -> dict[str, _Record]:
        """Scan each value of ``wanted`` with the groups it needs and does not have in the value
        cache (the values of one group in one joined scan); store the records (short values
        only) and return them all."""
        known = self._values
        records: dict[str, list[Any]] = {}
        for value in wanted:
            record = known.get(value)
            if record is None:
                records[value] = [0, 0, list(self._no_hits)]
            else:
                records[value] = [record[0], record[1], list(record[2])]
        steps: _Steps = {}
        for index, group in enumerate(self._groups):
            bit = 1 << index
            todo = [v for v, need in wanted.items() if need & bit and not records[v][0] & bit]
            if not todo:
                continue
            cache = group.cache
            encoded: list[bytes] = []
            for value in todo:
                found = cache.get(value)
                if found is None:
                    deadline.check()
                    found = group.transform(value, deadline, steps)
                encoded.append(found[1])
            deadline.check()
            by_slot: dict[int, list[int]] = {}
            for pattern, slot in self._scan(group, encoded, deadline):
                by_slot.setdefault(slot, []).append(pattern)
            for slot, value in enumerate(todo):
                draft = records[value]
                draft[0] |= bit
                patterns = by_slot.get(slot)
                if patterns:
                    draft[1] |= bit
                    draft[2][index] = tuple(sorted(patterns))
        out: dict[str, _Record] = {}
        for value, (a, b, c) in records.items():
            done: _Record = (a, b, tuple(c))
            out[value] = done
            if len(value) <= _CACHEABLE_VALUE:
                if len(known) >= _VALUE_ENTRIES:
                    known.clear()
                known[value] = done
        return out

    def _confirm(
        self,
        group: _Group,
        index: int,
        *,
        targets: tuple[Target, ...],
        hot: dict[str, _Record],
        excluded: tuple[Exclusion, ...],
        fired: dict[int, RuleMatch],
        deadline: Deadline,
        steps: _Steps,
    ) -> None:
        """Run the rules of ``group`` whose pre-filter patterns hit, on the targets holding the
        value they hit: patterns in id order, values in the order they first appear over the
        group's collections (collection by collection, each in request order), and each value's
        targets in that order too."""
        bit = 1 << index
        rank = group.rank
        owners: dict[str, list[tuple[int, int, Target]]] = {}
        for position, target in enumerate(targets):
            record = hot.get(target.value)
            if record is not None and record[1] & bit:
                place = rank.get(target.collection)
                if place is not None:
                    owners.setdefault(target.value, []).append((place, position, target))
        if not owners:
            return
        hits: list[tuple[int, tuple[int, int], str]] = []
        for value, places in owners.items():
            places.sort(key=_by_place)
            first = places[0][:2]
            hits.extend((pattern, first, value) for pattern in hot[value][2][index])
        hits.sort(key=_by_hit)
        for pattern, _, value in hits:
            deadline.check()
            text = group.transform(value, deadline, steps)[0]
            for rule in group.pattern_rules[pattern]:
                for _, _, target in owners[value]:
                    self._try(rule, target, text, excluded, fired, refused=self._refused)

    def _scan(self, group: _Group, encoded: list[bytes], deadline: Deadline) -> set[tuple[int, int]]:
        """(pattern, value index) pairs the group's pre-filters flagged: short values in one
        joined scan, long ones one by one with each pattern reporting once."""
        hits: set[tuple[int, int]] = set()
        joined = [slot for slot, raw in enumerate(encoded) if len(raw) <= _JOINED_VALUE]
        if joined:
            parts = [encoded[slot] for slot in joined]
            starts = list(accumulate((len(raw) + _SEPARATOR_LEN for raw in parts), initial=0))
            found: set[tuple[int, int]] = set()
            group.database.scan(
                _SEPARATOR.join(parts),
                match_event_handler=_on_match,
                context=(starts, found),
                scratch=self._scratch(group, single=False),
            )
            hits.update((pattern, joined[index]) for pattern, index in found)
        if len(joined) < len(encoded):
            for slot, raw in enumerate(encoded):
                if len(raw) > _JOINED_VALUE:
                    deadline.check()
                    patterns: set[int] = set()
                    group.single.scan(
                        raw,
                        match_event_handler=_on_single,
                        context=patterns,
                        scratch=self._scratch(group, single=True),
                    )
                    hits.update((pattern, slot) for pattern in patterns)
        return hits

    def _scratch(self, group: _Group, *, single: bool) -> Any:
        """Hyperscan scratch space for this thread and database (scratch is not shareable)."""
        scratches: dict[tuple[int, bool], Any] | None = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = self._local.scratches = {}
        scratch = scratches.get((id(group), single))
        if scratch is None:
            database = group.single if single else group.database
            scratch = scratches[(id(group), single)] = hyperscan.Scratch(database)
        return scratch

    @staticmethod
    def _try(
        rule: _Rule,
        target: Target,
        value: str,
        excluded: tuple[Exclusion, ...],
        fired: dict[int, RuleMatch],
        *,
        refused: dict[tuple[int, str], None] | None = None,
    ) -> None:
        """Run ``rule`` on ``target`` (its ``value`` transformed); ``refused``: the cache of
        short values the rule's operator refused (for rules that are not negated)."""
        if rule.id in fired or not rule.selects(target):
            return
        if excluded and any(e.covers(rule.id, rule.attack_class, target) for e in excluded):
            return
        if refused is not None and not rule.negate and len(value) <= _CACHEABLE_VALUE:
            key = (rule.id, value)
            if key in refused:
                return
            found = rule.operator.match(value)
            if found is None:
                if len(refused) >= _REFUSED_ENTRIES:
                    refused.clear()
                refused[key] = None
                return
        else:
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
