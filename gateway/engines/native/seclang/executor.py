"""Run a :class:`~rampart.gateway.engines.native.seclang.loader.Ruleset` over one request, phases 1
and 2, with
libmodsecurity 3 semantics.

- A rule takes every value its variables resolve to (minus ``!`` exclusions and the
  transaction's ``ctl:ruleRemoveTarget*``), applies its transformations, and tests each with
  its operator (negated by ``!``). For every value that matches, ``MATCHED_VAR(S)`` are
  updated, ``capture`` fills ``TX:0..9``, and the rule's ``setvar`` / ``setenv`` run, once
  per matching value, as libmodsecurity does (so a rule matching two arguments adds its
  score twice).
- A chain matches when every link matches; the chain starter's ``ctl``, ``skip``,
  ``skipAfter``, ``allow`` and its log entry apply only then.
- ``SecRuleEngine`` / ``ctl:ruleEngine=Off`` stop evaluation; ``deny``/``block``/``drop`` do
  not (the engine runs as ``DetectionOnly``: it scores, the caller decides); ``allow`` ends
  rule processing for the request.
- Phase 1 sees the URI and headers; the body processor (``URLENCODED`` and ``MULTIPART``
  from the Content-Type, ``JSON``/``XML`` when a phase-1 ``ctl:requestBodyProcessor`` asks)
  runs before phase 2.

Speed without changing any of that: rules whose outcome is the same for every request (CRS's
setup, 901's defaults, the paranoia-level jumps) are folded when the rule set is compiled
(:mod:`.plan`) and only their effect is replayed; a guarded rule whose patterns occur in none
of its values (:mod:`.prefilter`) is skipped by the walk without being evaluated; each target's
values are transformed once per chain node and phase, shared by every rule naming them; and
answers that depend on a value alone (a transformation chain's output, the prefilter's
answers, a pure operator's refusal) are kept across requests for values that recur
(:class:`ValueCaches`), and so are a rule's fast-path answer and its pure operator's refusal
per content of the collections it reads, so a rule whose collections repeat an earlier
request's costs one look-up.

A :class:`CompiledRuleset` is immutable once built and shared by all threads; each request
gets its own :class:`Transaction`.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from rampart.gateway.engines.native.plain import SECLANG_TRIGGERS, char_mask, is_plain
from rampart.gateway.engines.native.seclang import operators as ops
from rampart.gateway.engines.native.seclang import transforms as tfs
from rampart.gateway.engines.native.seclang.bodies import BodyResult, parse_body
from rampart.gateway.engines.native.seclang.loader import Ruleset, parse_id_ranges
from rampart.gateway.engines.native.seclang.operators import (
    injection,
    network,
    numeric,
    phrases,
    strings,
    validation,
)
from rampart.gateway.engines.native.seclang.operators.regex import Regex
from rampart.gateway.engines.native.seclang.parse import parse_targets
from rampart.gateway.engines.native.seclang.prefilter import Guard, Prefilters, build_prefilters, to_bytes
from rampart.gateway.engines.native.seclang.rules import Marker, Rule, Target
from rampart.gateway.engines.native.seclang.variables import Variables, body_variables, request_variables
from rampart.gateway.model import RawRequest

__all__ = ["CompiledRule", "CompiledRuleset", "Folded", "LogEntry", "Transaction", "compile_ruleset"]

log = logging.getLogger(__name__)

_MACRO = re.compile(r"%\{([^}]*)\}")
# variables computed when read, never indexed
_LIVE = frozenset(
    {"TX", "ENV", "IP", "GLOBAL", "SESSION", "USER", "RESOURCE", "RULE", "MATCHED_VAR", "MATCHED_VARS"}
    | {"MATCHED_VAR_NAME", "MATCHED_VARS_NAMES", "REQBODY_PROCESSOR"}
)
_MAX_CAPTURES = 10
_NOTHING: frozenset[int] = frozenset()
_NO_PAIRS: dict[int, int] = {}
_UNNUMBERED = 1 << 62  # a pair not asked of a collection yet (no guard id was checked for it)

CACHE_ENTRIES = 8192
"""Entries each cross-request cache of :class:`ValueCaches` holds before it is emptied."""
CACHE_VALUE_CHARS = 512
"""Longer values are never kept across requests (they are rarely repeated and cost memory)."""
_REMOVAL_STATES = 64  # distinct removal lists kept
_HITS_ENTRIES = 4 * CACHE_ENTRIES  # (chain, matcher, value) answers: several per value
_SCAN_ALONE = 4  # a piece's values with literals are scanned (and kept) one by one up to this many
# a list of more values (a huge body's fields) keeps no per-value answers across requests. It
# was 16, which left an ordinary 20-field form or JSON body, most of whose values recur, with
# no help at all (about 1.2 ms per request; 0.73 ms at 256, docs/BENCHMARKS.md); values met
# once are still answered for their request only (see Transaction._met)
_MANY = 256
_CONTENT_CHARS = 4096  # a collection's keys and values longer than this together get no content id
_KEY_ANSWERS = 1024  # keys whose selection by one key regex is kept (never emptied: then computed)


def _bounded_add[K](cache: set[K], key: K, bound: int) -> None:
    """``cache.add(key)``, the set emptied whole first when it holds ``bound`` entries."""
    if len(cache) >= bound:
        cache.clear()
    cache.add(key)


def _bounded_put[K, V](cache: dict[K, V], key: K, value: V, bound: int = -1) -> V:
    """``cache[key] = value``, the cache emptied whole first when it holds ``bound`` entries
    (by default :data:`CACHE_ENTRIES`, read at the call); returns ``value``."""
    if len(cache) >= (CACHE_ENTRIES if bound < 0 else bound):
        cache.clear()
    cache[key] = value
    return value


class ValueCaches:
    """Answers that depend on a value alone, kept across requests (one set per compiled rule
    set, shared by every thread):

    - ``chains``: a whole chain's output per (chain node, value);
    - ``literals`` / ``sets``: the literal matcher's hits per value, an RE2 set's per (set,
      value); ``hits``: a matcher's hits per (chain node, matcher, untransformed value);
    - ``refused``: (rule slot, value) that link does not match (its operator, which reads
      nothing but the value, refuses it, or matches it and the link is negated); ``matches``:
      what such an operator found in a value it matches (a rule that matches every request,
      CRS's per-header ``setvar``, still runs its actions each time, not its operator);
    - ``removals``: which rules a state of the ``ctl`` removal lists removes;
    - ``keys``: per key regex (``TX:/^header_name_/``), whether it selects a key (the same
      ``TX`` names recur in every request), at most :data:`_KEY_ANSWERS` keys per regex;
    - ``seen``: the values met by a request. Answers about a value (its chains' outputs, the
      matchers' answers, refusals) are kept from the second request that has it on: a value
      met only once (an id, a token, a body's fields) costs about what it did without these
      caches.
    - ``contents``: an id per content of a collection (``REQUEST_HEADERS``, ``ARGS``...),
      given the second time a request has it (a content met once, a request with a new cookie
      say, gets none; ``pending`` holds the hashes of those met once, so they keep no strings
      alive); ``unions``: the fast path's answer per (union key, ids of the rule's
      collections), and ``pieces`` per (piece key, its collection's id), so a rule reading one
      collection that changed and others that did not answers the others from a look-up;
      ``outcomes``: (rule slot, those ids) of a link whose operator refused all its values. A
      rule's values are a function of its collections when it reads no live variable, so when
      they hold what they held in an earlier request the rule costs one look-up: no value is
      selected, transformed or scanned. Collections of more than :data:`_MANY` entries or
      :data:`_CONTENT_CHARS` characters get no id.
    - ``demand``: per collection, the (chain node, matcher) pairs the fast path has asked of
      its values, numbered in the order first asked (never forgotten: there are only as many
      as the rule set has); ``inert``: per (collection, how many of those pairs, key, value)
      whether none of those pairs finds in the value anything a rule reading that entry
      through it looks for (``plans``: what that takes, per key). The fast path's answers
      (``unions``, ``pieces``) depend only on what its matchers find, so they are kept under
      a collection's *guard id*: the id of its content with its inert values blanked, keys
      kept (a session cookie, a search term, an id leave it as it was). An answer is kept
      under a guard id only when the rule's own pair is among the pairs its values were
      checked against (``needs``: per union key, the number of its pair in each collection's
      ``demand``); the ids name those pairs, so an answer found under them needs no check.
      ``guards``: a content id's guard id, so a content met again finds it in one look-up.
      The operators' refusals (``outcomes``) read the values themselves and keep the exact
      ids.

    Only values of at most :data:`CACHE_VALUE_CHARS` characters are kept, and none of a list
    of more than :data:`_MANY` values (a body's fields); a cache that reaches its bound
    (:data:`CACHE_ENTRIES`, four times that for ``hits`` and ``seen``) is emptied whole.
    Threads share them without a lock: every entry is a correct answer written whole, so a
    lost update only costs a recomputation."""

    __slots__ = (
        "_ids",
        "chains",
        "contents",
        "demand",
        "guards",
        "hits",
        "inert",
        "keys",
        "literals",
        "lock",
        "matches",
        "needs",
        "numbered",
        "order",
        "outcomes",
        "pending",
        "pieces",
        "plans",
        "refused",
        "removals",
        "seen",
        "sets",
        "unions",
        "value_chars",
    )

    def __init__(self, value_chars: int = CACHE_VALUE_CHARS) -> None:
        # values up to this long are kept (-1: none, for the reference engine without fast path)
        self.value_chars = value_chars
        self.chains: dict[tuple[int, str], str] = {}  # (chain node, value) -> the chain's output
        self.seen: set[str] = set()  # values met by a request (answers kept from the next one on)
        # (chain node, matcher, untransformed value) -> slots the matcher finds (see _piece_hits)
        self.hits: dict[tuple[int, int, str], frozenset[int]] = {}
        self.literals: dict[str, frozenset[int]] = {}
        self.sets: dict[tuple[int, str], frozenset[int]] = {}
        self.refused: set[tuple[int, str]] = set()
        self.matches: dict[tuple[int, str], ops.OperatorMatch] = {}  # (rule slot, value) -> the match
        # (removed id ranges, removed tag patterns) -> phase -> per item, whether they remove it
        self.removals: dict[tuple[tuple[tuple[int, int], ...], tuple[str, ...]], dict[int, list[bool]]] = {}
        self.keys: dict[str, dict[str, bool]] = {}  # key regex -> key -> selected
        # (collection, its entries) -> content id, for contents met twice; the hashes of those
        # met once. Ids are never reused (a cleared table cannot make an old answer apply to
        # new contents): taken from a counter
        self.contents: dict[tuple[str, tuple[tuple[str, str | None], ...]], int] = {}
        self.pending: set[int] = set()
        self.unions: dict[tuple[int, tuple[int, ...]], Hits] = {}  # (union key, ids) -> answers
        self.pieces: dict[tuple[int, int], Hits] = {}  # (piece key, its collection's id) -> answers
        # (slot, ids, expanded macro argument or ""): the link refused those values
        self.outcomes: set[tuple[int, tuple[int, ...], str]] = set()
        self._ids = itertools.count(1)  # 0: an empty collection
        # collection -> (chain node << 16 | matcher) -> its number; the pairs in that order
        self.demand: dict[str, dict[int, int]] = {}
        self.order: dict[str, list[int]] = {}
        self.lock = threading.Lock()  # taken only to number a pair (the first requests)
        self.inert: dict[tuple[str, int, str, str], bool] = {}  # (collection, pairs, key, value) -> inert
        # content id -> (pairs checked, guard id) of that content (see Transaction._guarded)
        self.guards: dict[int, tuple[int, int]] = {}
        # (collection, pairs, key or "") -> what an entry's inertness is checked against
        self.plans: dict[tuple[str, int, str], tuple[tuple[int, int, frozenset[int] | None], ...]] = {}
        # union key -> (pairs numbered then, (position of a collection it reads, the number of
        # the union's pair there) per collection); recomputed once more pairs are numbered
        self.needs: dict[int, tuple[int, tuple[tuple[int, int], ...]]] = {}
        self.numbered = 0  # pairs numbered, all collections

    def ask(self, collection: str, pair: int) -> None:
        """Note that the fast path asked ``pair`` (chain node << 16 | matcher) of a value of
        ``collection``: from now on the values met there are checked against it (see above)."""
        numbers = self.demand.get(collection)
        if numbers is not None and pair in numbers:
            return
        with self.lock:
            numbers = self.demand.setdefault(collection, {})
            if pair not in numbers:
                order = self.order.setdefault(collection, [])
                numbers[pair] = len(order)  # numbered before it is listed: never ahead of the list
                order.append(pair)
                self.numbered += 1

    def content_id(self, name: str, entries: Sequence[tuple[str, str | None]]) -> int:
        """The id of collection ``name`` holding ``entries`` (see above; -1: none). A guard
        id's ``name`` holds the number of pairs, and its blanked values are None."""
        if not entries:
            return 0
        if len(entries) > _MANY:
            return -1
        size = 0
        for key, value in entries:
            size += len(key) if value is None else len(key) + len(value)
        if size > _CONTENT_CHARS:
            return -1
        content = (name, tuple(entries))
        found = self.contents.get(content)
        if found is not None:
            return found
        # met once: only its hash is noted (a content never met again, a request's own cookie
        # say, keeps no strings alive); a hash met before gives the content its id
        mark = hash(content)
        if mark not in self.pending:
            _bounded_add(self.pending, mark, _HITS_ENTRIES)
            return -1
        return _bounded_put(self.contents, content, next(self._ids), CACHE_ENTRIES)

    def clear(self) -> None:
        """Forget everything (the answers are recomputed on demand)."""
        self.chains.clear()
        self.seen.clear()
        self.hits.clear()
        self.literals.clear()
        self.sets.clear()
        self.refused.clear()
        self.matches.clear()
        self.removals.clear()
        self.keys.clear()
        self.contents.clear()
        self.pending.clear()
        self.unions.clear()
        self.pieces.clear()
        self.outcomes.clear()
        self.inert.clear()
        self.plans.clear()
        self.guards.clear()
        # ``demand`` and ``needs`` stay: a guard id names its pairs by their number, which must
        # keep its meaning while a transaction that took one runs

    def sizes(self) -> dict[str, int]:
        """How many entries each cache holds."""
        return {
            "chains": len(self.chains),
            "seen": len(self.seen),
            "hits": len(self.hits),
            "literals": len(self.literals),
            "sets": len(self.sets),
            "refused": len(self.refused),
            "matches": len(self.matches),
            "removals": len(self.removals),
            "keys": sum(len(answers) for answers in self.keys.values()),
            "contents": len(self.contents),
            "pending": len(self.pending),
            "unions": len(self.unions),
            "pieces": len(self.pieces),
            "outcomes": len(self.outcomes),
            "demand": sum(len(pairs) for pairs in self.order.values()),
            "inert": len(self.inert),
            "plans": len(self.plans),
            "guards": len(self.guards),
            "needs": len(self.needs),
        }


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A rule that fired and logs: what ModSecurity writes to its error log."""

    rule_id: int
    msg: str
    logdata: str
    severity: int | None
    tags: tuple[str, ...]
    target: str
    matched: str


@dataclass(slots=True)
class CompiledRule:
    """A rule with its operator and transformations resolved."""

    rule: Rule
    operator: ops.Operator | None  # None: built per transaction (macro argument) or unknown
    transforms: tuple[tfs.Transformation, ...]
    transform_key: tuple[str, ...]
    key_regexes: dict[Target, re.Pattern[str]]
    exclusions: dict[str, Exclusions]
    chain: CompiledRule | None
    context: ops.OperatorContext
    unsupported: str | None = None
    slot: int = -1
    share_key: int | None = None
    macro_operators: dict[str, ops.Operator | None] = field(default_factory=dict)
    # the transformation chain's node after each step (see :data:`_NODES`); chain_id: the last
    prefix_nodes: tuple[int, ...] = ()
    chain_id: int = 0
    # per selecting target of a shareable rule: (piece id, target, its collection's exclusions);
    # sources: the id of each (target, exclusions), the untransformed values pieces share
    pieces: tuple[tuple[int, Target, Exclusions | None], ...] = ()
    sources: tuple[int, ...] = ()
    # a shareable rule the fast path guards: 1 by the literal database, 2 by RE2 set ``set_index``
    guard: int = 0
    set_index: int = -1
    # per transaction, the guarded rules with the same values and matcher share one answer
    # (the slots that may match one of the values): share_key << 16 + set_index + 1
    union_key: int = -1
    union_index: int = -1  # its place in CompiledRuleset.union_keys (a transaction's list index)
    # per piece: (its index, piece << 16 + matcher (0: literals, else RE2 set + 1), collection,
    # whether it counts)
    guard_plan: tuple[tuple[int, int, str, bool], ...] = ()
    # the operator reads nothing but the value (its refusals may be kept across requests)
    pure: bool = False
    # a rule that reads no live variable: its collections in a fixed order (its values are a
    # function of theirs), and their small number (rules with the same ones share content ids)
    collections: tuple[str, ...] = ()
    content_key: int = -1
    # per collection this rule reads only by literal keys: those keys (see
    # Transaction._keyed_id), for when the whole collection has no content id
    keyed: dict[str, Keys] = field(default_factory=dict)
    # per piece: its one literal key, or None (see _keyed_id)
    piece_keys: tuple[Keys | None, ...] = ()

    def operator_for(self, arg: str) -> ops.Operator | None:
        """The operator for a macro-expanded argument (built once per distinct argument)."""
        cached = self.macro_operators.get(arg, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        try:
            built: ops.Operator | None = ops.get(self.rule.operator)(arg, self.context)
        except (ValueError, KeyError) as exc:
            log.debug("rule %s: operator argument %r: %s", self.rule.id, arg, exc)
            built = None
        if len(self.macro_operators) < 1024:
            self.macro_operators[arg] = built
        return built


_MISSING = object()


@dataclass(frozen=True, slots=True)
class Folded:
    """A rule's outcome for every request (see :mod:`.plan`): its ``TX`` writes in order
    (``None``: delete), the ``MATCHED_VAR`` it leaves (``uri``: a ``SecAction``'s, the
    transformed ``REQUEST_URI``) and the index its phase continues at; ``removable``: a
    ``ctl`` of an earlier rule may remove it (checked per request)."""

    writes: tuple[tuple[str, tuple[str, str] | None], ...]
    matched_var: tuple[str, str] | None
    uri: bool
    next: int
    removable: bool = False


@dataclass(frozen=True, slots=True)
class CompiledRuleset:
    """Compiled rules per phase plus where each marker sits; ``folded``: per phase, per item,
    the outcome of the rules that is the same for every request (:mod:`.plan`)."""

    phases: dict[int, tuple[CompiledRule | Marker, ...]]
    markers: dict[int, dict[str, int]]
    rule_engine: str
    unsupported: tuple[str, ...]
    prefilters: Prefilters | None = None
    arguments_limit: int | None = None
    folded: dict[int, tuple[Folded | None, ...]] = field(default_factory=dict)
    caches: ValueCaches = field(default_factory=ValueCaches, compare=False, repr=False)
    # (collection, chain node << 16 | matcher) -> the guarded rules reading it so (_mark_guards)
    readers: dict[tuple[str, int], Readers] = field(default_factory=dict, repr=False)
    # collection -> the lower-case keys some guarded rule names (its readers.by_key)
    named_keys: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    # whether a phase-1 rule may read REQUEST_BODY (in a target or a macro; see _mentions)
    body_in_phase1: bool = True
    # every union key, each once: a transaction keeps its unions in a list in this order
    union_keys: tuple[int, ...] = ()


def _compile_targets(rule: Rule) -> dict[Target, re.Pattern[str]]:
    out: dict[Target, re.Pattern[str]] = {}
    for target in rule.targets:
        if target.key_regex is not None:
            try:
                out[target] = re.compile(target.key_regex, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(
                    f"{rule.where}: rule {rule.id}: key regex /{target.key_regex}/: {exc}"
                ) from None
    return out


# operators whose answer depends on the value alone
_PURE_TYPES: tuple[type, ...] = (
    injection.DetectSqli,
    injection.DetectXss,
    network.IpMatch,
    numeric.Compare,
    phrases.PhraseMatch,
    strings.StrEq,
    strings.Within,
    strings.BeginsWith,
    strings.EndsWith,
    strings.Contains,
    strings.ContainsWord,
    validation.ByteRange,
    validation.UrlEncoding,
    validation.Utf8Encoding,
)


def is_pure(operator: ops.Operator | None) -> bool:
    """Whether ``operator``'s answer is a function of the value alone, with no side effect:
    the operators above, and ``@rx`` when RE2 runs it (the Python fallback counts its runs)."""
    if operator is None:
        return False
    if isinstance(operator, Regex):
        return operator._re2 is not None
    return isinstance(operator, _PURE_TYPES)


def _compile_rule(rule: Rule, unsupported: list[str], strict: bool) -> CompiledRule:
    context = ops.OperatorContext(base_dir=rule.file.parent)
    transforms: list[tfs.Transformation] = []
    nodes: list[int] = []
    missing: str | None = None
    for name in rule.transforms:
        try:
            transforms.append(tfs.get(name))
            nodes.append(_chain_node(nodes[-1] if nodes else 0, name.lower(), transforms[-1]))
        except KeyError:
            missing = f"t:{name}"
    operator: ops.Operator | None = None
    if "%{" not in rule.operator_arg:
        try:
            operator = ops.get(rule.operator)(rule.operator_arg, context)
        except KeyError:
            missing = f"@{rule.operator}"
        except ValueError as exc:
            if strict:
                raise ValueError(f"{rule.where}: rule {rule.id}: @{rule.operator}: {exc}") from None
            missing = f"@{rule.operator} argument rejected ({exc})"
    else:
        try:
            ops.get(rule.operator)
        except KeyError:
            missing = f"@{rule.operator}"
    if missing is not None:
        unsupported.append(f"{rule.where}: rule {rule.id}: {missing}")
    live = any(t.collection in _LIVE or (t.key is not None and "%{" in t.key) for t in rule.targets)
    chain_key = tuple(n.lower() for n in rule.transforms)
    chain_id = nodes[-1] if nodes else 0
    excluded = exclusions([t for t in rule.targets if t.exclude])
    collections = () if live else tuple(sorted({t.collection for t in rule.targets}))
    keyed = _keyed_labels(rule.targets, collections)
    share_key: int | None = None
    pieces: list[tuple[int, Target, Exclusions | None]] = []
    sources: list[int] = []
    if not live and not rule.multi_match:
        shape = (rule.targets, chain_key)
        share_key = _SHARE_IDS.setdefault(shape, len(_SHARE_IDS))
        _SHARE_COLLECTIONS.setdefault(share_key, frozenset(t.collection for t in rule.targets))
        for target in rule.targets:
            if not target.exclude:
                ex = excluded.get(target.collection)
                piece = (target, ex, chain_id)
                piece_id = _PIECE_IDS.setdefault(piece, len(_PIECE_IDS))
                _PIECE_COLLECTIONS.setdefault(piece_id, target.collection)
                pieces.append((piece_id, target, ex))
                source = _SOURCE_IDS.setdefault((target, ex), len(_SOURCE_IDS))
                if source == len(_SOURCE_COLLECTIONS):
                    _SOURCE_COLLECTIONS.append(target.collection)
                sources.append(source)
    chain = _compile_rule(rule.chain, unsupported, strict) if rule.chain is not None else None
    return CompiledRule(
        rule,
        operator,
        tuple(transforms),
        tuple(n.lower() for n in rule.transforms),
        _compile_targets(rule),
        excluded,
        chain,
        context,
        missing,
        share_key=share_key,
        prefix_nodes=tuple(nodes),
        chain_id=chain_id,
        pieces=tuple(pieces),
        piece_keys=tuple(_keys(target.collection, [literal_key(target)]) for _, target, _ in pieces),
        sources=tuple(sources),
        pure=missing is None and is_pure(operator),
        collections=collections,
        content_key=_content_key(collections, keyed),
        keyed=keyed,
    )


def literal_key(target: Target) -> str | None:
    """The lower-case key of a target that names one literal key (no regex, no macro); None
    when it may select any entry."""
    key = target.key
    if key is None or target.key_regex is not None or "%{" in key or target.collection == "XML":
        return None
    return key.lower()


def live_variable(name: str) -> bool:
    """Whether variable ``name`` is computed while the rules run (``TX``, ``MATCHED_VAR``...)
    rather than taken from the request."""
    return name in _LIVE


def macro_references(text: str) -> list[tuple[str, str | None]]:
    """The request variables the macros of ``text`` read: (collection, lower-case key, or None
    for ``%{NAME}``, which reads its first entry)."""
    if "%{" not in text:
        return []
    return [
        (part[0], part[2] if part[1] else None)
        for part in _macro_parts(text)
        if not isinstance(part, str) and part[0] not in _LIVE
    ]


def _keys(collection: str, keys: list[str | None]) -> Keys | None:
    """``keys`` of ``collection`` (lower-case, sorted) with their label ``COLLECTION:k1<NUL>k2``,
    or None when one of them is not a literal key (or there are none)."""
    if not keys or None in keys:
        return None
    distinct = tuple(sorted({k for k in keys if k is not None}))
    return f"{collection}:" + "\x00".join(distinct), distinct


def _keyed_labels(targets: tuple[Target, ...], collections: tuple[str, ...]) -> dict[str, Keys]:
    """Per collection that ``targets`` read only by literal keys: those keys (see :func:`_keys`)."""
    out: dict[str, Keys] = {}
    for name in collections:
        keys = _keys(name, [literal_key(t) for t in targets if t.collection == name])
        if keys is not None:
            out[name] = keys
    return out


def _content_key(collections: tuple[str, ...], keyed: dict[str, Keys]) -> int:
    """The small number of a set of collections and the literal keys a rule reads them by
    (-1: none, for a rule that reads live ones): rules with the same share content ids."""
    if not collections:
        return -1
    labels = tuple(sorted(label for label, _ in keyed.values()))
    key = _CONTENT_KEYS.setdefault((collections, labels), len(_CONTENT_KEYS))
    if key == len(_CONTENT_NAMES):
        _CONTENT_NAMES.append(frozenset(collections))
    return key


def _guards(phases: dict[int, tuple[CompiledRule | Marker, ...]]) -> list[Guard]:
    """Give every compiled rule (chain links too) a slot; list what the fast path may check for
    those it can guard: the operator's literal ``prefilter`` patterns (for ``@rx``, the
    pattern's required literals), else an ``@rx`` operator's own RE2 pattern. A ``multiMatch``
    rule is guarded too: each value it tests (every step of its chain) is checked alone."""
    out: list[Guard] = []
    slot = 0
    for items in phases.values():
        for item in items:
            link = item if isinstance(item, CompiledRule) else None
            while link is not None:
                link.slot = slot
                slot += 1
                rule = link.rule
                operator = link.operator
                if operator is not None and link.unsupported is None and not rule.negated:
                    compiled = getattr(operator, "_re2", None) if rule.operator == "rx" else None
                    if operator.prefilter:
                        out.append(Guard(link.slot, link.transform_key, patterns=tuple(operator.prefilter)))
                    elif compiled is not None:
                        out.append(Guard(link.slot, link.transform_key, compiled.pattern, compiled.options))
                link = link.chain
    return out


def _mark_guards(
    phases: dict[int, tuple[CompiledRule | Marker, ...]], prefilters: Prefilters
) -> tuple[dict[tuple[str, int], Readers], tuple[int, ...]]:
    """Tell the rules that share their values which matcher guards them (the walk skips a
    chain starter that cannot match without evaluating it), and number their union keys
    (returned second, in the order of their numbers). Returns first, per collection and
    (chain node << 16 | matcher) pair, the slots of the guarded rules that read the
    collection through that pair: the only answers of that pair about its values any rule
    reads (see :meth:`Transaction._inert`); those of rules that name one literal key, per
    key (they read no other entry)."""
    slots: dict[tuple[str, int], set[int]] = {}
    keyed: dict[tuple[str, int], dict[str, set[int]]] = {}
    numbers: dict[int, int] = {}
    for items in phases.values():
        for item in items:
            link = item if isinstance(item, CompiledRule) else None
            while link is not None:
                if link.share_key is not None:
                    if link.slot in prefilters.literal_slots:
                        link.guard = 1
                    elif link.slot in prefilters.set_of:
                        link.guard, link.set_index = 2, prefilters.set_of[link.slot]
                    link.union_key = (link.share_key << 16) + link.set_index + 1
                    link.union_index = numbers.setdefault(link.union_key, len(numbers))
                    matcher = 0 if link.guard == 1 else link.set_index + 1
                    link.guard_plan = tuple(
                        (n, (piece_id << 16) + matcher, target.collection, target.count)
                        for n, (piece_id, target, _) in enumerate(link.pieces)
                    )
                    if link.guard:
                        pair = link.chain_id << 16 | matcher
                        for _, target, _ in link.pieces:
                            if target.count:
                                continue
                            where = (target.collection, pair)
                            key = literal_key(target)
                            if key is None:
                                slots.setdefault(where, set()).add(link.slot)
                            else:
                                keyed.setdefault(where, {}).setdefault(key, set()).add(link.slot)
                link = link.chain
    out: dict[tuple[str, int], Readers] = {}
    for where in slots.keys() | keyed.keys():
        any_key = frozenset(slots.get(where, ()))
        out[where] = Readers(any_key, {key: any_key | found for key, found in keyed.get(where, {}).items()})
    return out, tuple(numbers)


@dataclass(frozen=True, slots=True)
class Readers:
    """The guarded rules reading one collection through one (chain, matcher) pair: the
    slots of those reading any entry and, per lower-case key some name, those with the
    slots of the rules that name it."""

    any_key: frozenset[int]
    by_key: dict[str, frozenset[int]]

    def of(self, key: str) -> frozenset[int]:
        """The slots that read an entry under ``key`` (its lower-case form)."""
        return self.by_key.get(key, self.any_key)


def compile_ruleset(ruleset: Ruleset, *, strict: bool = False, fast: bool = True) -> CompiledRuleset:
    """Resolve every operator and transformation. Unknown operators and transformations are
    listed in ``unsupported`` and their rules never match; so are operator arguments the
    operator rejects, unless ``strict``, where they raise ``ValueError`` naming file and line.
    ``fast`` builds the Hyperscan prefilters (:mod:`rampart.gateway.engines.native.seclang.prefilter`)
    and turns on the cross-request caches of :class:`ValueCaches`.
    :func:`rampart.gateway.engines.native.seclang.plan.compile_plan` also folds the rules whose
    outcome is the same for every request."""
    unsupported: list[str] = []
    phases: dict[int, tuple[CompiledRule | Marker, ...]] = {}
    markers: dict[int, dict[str, int]] = {}
    for phase, items in ruleset.phases.items():
        compiled: list[CompiledRule | Marker] = []
        where: dict[str, int] = {}
        for item in items:
            if isinstance(item, Marker):
                where.setdefault(item.name, len(compiled))
                compiled.append(item)
            else:
                compiled.append(_compile_rule(item, unsupported, strict))
        phases[phase] = tuple(compiled)
        markers[phase] = where
    guards = _guards(phases)
    prefilters = build_prefilters(guards) if fast else None
    readers, union_keys = _mark_guards(phases, prefilters) if prefilters is not None else ({}, ())
    return CompiledRuleset(
        phases,
        markers,
        ruleset.rule_engine,
        tuple(unsupported),
        prefilters,
        ruleset.arguments_limit,
        caches=ValueCaches(CACHE_VALUE_CHARS if fast else -1),
        readers=readers,
        named_keys=_named_keys(readers),
        body_in_phase1=any(_mentions(item, "REQUEST_BODY") for item in ruleset.phases.get(1, ())),
        union_keys=union_keys,
    )


def _mentions(item: Rule | Marker, name: str) -> bool:
    """Whether ``name`` occurs anywhere in the rule (chained links, targets, operator argument,
    actions, case-insensitive): over-approximates whether running it can read variable
    ``name``, so a ``False`` is sure."""
    return isinstance(item, Rule) and name.lower() in repr(item).lower()


def _named_keys(readers: dict[tuple[str, int], Readers]) -> dict[str, frozenset[str]]:
    """Per collection, the keys some guarded rule names (see :class:`Readers`)."""
    out: dict[str, set[str]] = {}
    for (name, _), reading in readers.items():
        out.setdefault(name, set()).update(reading.by_key)
    return {name: frozenset(keys) for name, keys in out.items()}


_PATTERNS: dict[str, re.Pattern[str] | None] = {}
# a text with macros, split: literal text, and per macro (collection upper-case, whether it
# names a key, the key lower-case)
_MACRO_PARTS: dict[str, tuple[str | tuple[str, bool, str], ...]] = {}


def _macro_parts(text: str) -> tuple[str | tuple[str, bool, str], ...]:
    """``text`` split for :meth:`Transaction.expand` (kept per text: the texts come from rule
    files; the cache is emptied if it ever holds :data:`CACHE_ENTRIES`)."""
    parts: list[str | tuple[str, bool, str]] = []
    for n, piece in enumerate(_MACRO.split(text)):
        if n % 2 == 0:
            if piece:
                parts.append(piece)
            continue
        collection, dot, key = piece.partition(".")
        parts.append((collection.upper(), bool(dot), key.lower()))
    return _bounded_put(_MACRO_PARTS, text, tuple(parts))


# (targets, transformations) -> a small number: rules with equal ones share prepared values
_SHARE_IDS: dict[tuple[tuple[Target, ...], tuple[str, ...]], int] = {}
_SHARE_COLLECTIONS: dict[int, frozenset[str]] = {}  # share key -> the collections it reads
# (the collections a rule reads, the labels of those it reads by literal keys) -> a small number
_CONTENT_KEYS: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
_CONTENT_NAMES: list[frozenset[str]] = []  # that number -> those collections
# Transformation chains as a tree: node 0 is the empty chain, every other node is its parent's
# chain followed by one transformation. Chains with a common prefix share its nodes, and a
# transaction caches each node's result per value, so a prefix is computed once per value.
_NODES: list[tuple[int, tfs.Transformation]] = [(0, tfs.get("none"))]  # node -> (parent, step)
_NODE_IDS: dict[tuple[int, str, tfs.Transformation], int] = {}
# the built-in transformations' triggers (rampart...plain.char_mask), by the function itself:
# one registered in their place later gets no such trust. Each of them also leaves a plain
# value as it is (plain.SECLANG_IDENTITY)
_STEP_TRIGGERS: dict[tfs.Transformation, int] = {
    tfs.get(name): bits for name, bits in SECLANG_TRIGGERS.items()
}
# node -> whether its whole chain leaves a plain value as it is
_PLAIN_NODES: list[bool] = [True]
# node -> what its chain's steps act on (a value holding none of it skips the chain); -1: a
# step that may change any value (a decoder, a digest, one registered by the user)
_NODE_TRIGGERS: list[int] = [0]


def _unchanged(node: int, value: str) -> bool:
    """Whether the chain ``node`` leaves ``value`` as it is, as known without running it: the
    value holds nothing its steps act on, or it is plain and they leave plain values alone
    (rampart.gateway.engines.native.plain)."""
    triggers = _NODE_TRIGGERS[node]
    if triggers >= 0 and not triggers & char_mask(value):
        return True
    return _PLAIN_NODES[node] and is_plain(value)


def _all_unchanged(node: int, values: list[str]) -> bool:
    """:func:`_unchanged` for every one of ``values`` (the first that is not ends the look)."""
    return all(_unchanged(node, value) for value in values)


def _chain_node(parent: int, name: str, fn: tfs.Transformation) -> int:
    """The node for ``parent``'s chain followed by ``fn`` (registered as ``name``)."""
    key = (parent, name, fn)
    node = _NODE_IDS.get(key)
    if node is None:
        node = _NODE_IDS[key] = len(_NODES)
        _NODES.append((parent, fn))
        _PLAIN_NODES.append(_PLAIN_NODES[parent] and fn in _STEP_TRIGGERS)
        step, before = _STEP_TRIGGERS.get(fn, -1), _NODE_TRIGGERS[parent]
        _NODE_TRIGGERS.append(-1 if step < 0 or before < 0 else before | step)
    return node


# (target, exclusions of its collection, chain) -> a small number: rules share its values
_PIECE_IDS: dict[tuple[Target, Exclusions | None, int], int] = {}
# (target, exclusions of its collection) -> a small number: pieces with any chain share its values
_SOURCE_IDS: dict[tuple[Target, Exclusions | None], int] = {}
_SOURCE_COLLECTIONS: list[str] = []  # source id -> its collection
_PIECE_COLLECTIONS: dict[int, str] = {}  # piece id -> its collection


def _pattern(text: str) -> re.Pattern[str] | None:
    """A key regex, compiled once per process (the texts come from rule files)."""
    if text not in _PATTERNS:
        try:
            _PATTERNS[text] = re.compile(text, re.IGNORECASE)
        except re.error:
            _PATTERNS[text] = None
    return _PATTERNS[text]


@dataclass(frozen=True, slots=True)
class Exclusions:
    """What a rule leaves out of one collection: literal keys (lower-case), key regexes, or all."""

    keys: frozenset[str] = frozenset()
    patterns: tuple[re.Pattern[str], ...] = ()
    everything: bool = False

    def keeps(self, key: str) -> bool:
        if self.everything:
            return False
        if self.keys and key.lower() in self.keys:
            return False
        return not any(p.search(key) for p in self.patterns)


def exclusions(targets: list[Target] | tuple[Target, ...]) -> dict[str, Exclusions]:
    """Exclusion targets (``!ARGS:x``, ``ctl:ruleRemoveTargetById=...;ARGS:x``) per collection."""
    keys: dict[str, set[str]] = {}
    patterns: dict[str, list[re.Pattern[str]]] = {}
    whole: set[str] = set()
    for t in targets:
        if t.key_regex is not None:
            pattern = _pattern(t.key_regex)
            if pattern is not None:
                patterns.setdefault(t.collection, []).append(pattern)
        elif t.key is not None:
            keys.setdefault(t.collection, set()).add(t.key.lower())
        else:
            whole.add(t.collection)
    return {
        c: Exclusions(frozenset(keys.get(c, ())), tuple(patterns.get(c, ())), c in whole)
        for c in set(keys) | set(patterns) | whole
    }


Hits = tuple[frozenset[int], ...]  # answers of the fast path: each a set of slots that may match
Keys = tuple[str, tuple[str, ...]]  # literal keys of one collection: (COLLECTION:k1<NUL>k2, (k1, k2))
Met = tuple[bool, ...] | None  # per value of a source: met by an earlier request (None: keep nothing)


_MERGE = 8  # answers past this many are merged into one set (each rule's check reads them all)


def _distinct(found: list[frozenset[int]]) -> Hits:
    """``found`` without repeats (the same answer, kept per value, recurs across values); more
    than :data:`_MERGE` distinct answers (a body of new values: one per value) are merged into
    one set, so that a rule's check is one look-up, not one per value."""
    if len(found) < 2:
        return tuple(found)
    unique = list({id(hits): hits for hits in found}.values())
    if len(unique) > _MERGE:
        return (frozenset().union(*unique),)
    return tuple(unique)


def _default_processor(content_type: str) -> str:
    """The processor libmodsecurity picks from the Content-Type when the headers arrive."""
    lowered = content_type.lower()
    if lowered.startswith("application/x-www-form-urlencoded"):
        return "URLENCODED"
    if lowered.startswith("multipart/form-data"):
        return "MULTIPART"
    return ""


_EMPTY_BODY: list[tuple[str, str]] = [("", "")]  # REQUEST_BODY of a request without a body (never changed)


class _Piece:
    """One selecting target's transformed values (see :meth:`Transaction._piece`); a plain
    class, as compiled its construction is a C call (a dataclass's ``__init__`` stays Python)."""

    __slots__ = ("collection", "labels", "values")

    def __init__(self, collection: str, labels: list[str], values: list[str]) -> None:
        self.collection = collection
        self.labels = labels
        self.values = values


class Transaction:
    """One request's state while the rules run (never shared between threads)."""

    def __init__(
        self,
        ruleset: CompiledRuleset,
        request: RawRequest,
        body: bytes,
        unique_id: str,
        check: Callable[[], None] | None = None,
    ) -> None:
        self.ruleset = ruleset
        self.check = check  # the request's budget: raises once it is spent (checked every few rules)
        self.request = request
        self.body = body.decode("latin-1")
        self.vars: Variables = request_variables(request, unique_id, ruleset.arguments_limit)
        # a mapping, not a dict: the compiled executor (rampart.accel) reads a declared dict
        # directly, past the methods of plan's sandbox, which overrides them
        self.tx: MutableMapping[str, tuple[str, str]] = {}
        self.env: dict[str, tuple[str, str]] = {}
        self.persistent: dict[str, dict[str, tuple[str, str]]] = {}
        self.removed_ids: list[tuple[int, int]] = []
        self.removed_tags: list[re.Pattern[str]] = []
        self.removed_targets: dict[int, list[Target]] = {}
        self.removed_targets_by_tag: list[tuple[re.Pattern[str], Target]] = []
        self._retargeted_by_tag: dict[int, bool] = {}  # id(rule) -> a tag pattern above names it
        self.content_type = next(
            (v for k, v in self.vars["REQUEST_HEADERS"] if k.lower() == "content-type"), ""
        )
        self.body_processor = _default_processor(self.content_type)
        self.body_access = True
        self.engine_on = ruleset.rule_engine.lower() != "off"
        self.allowed = False
        self.matched_var = ("", "")
        self.matched_vars: list[tuple[str, str]] = []
        self.rule: Rule | None = None
        self.logged: list[LogEntry] = []
        self._transformed: dict[int, dict[str, str]] = {}  # chain node -> value -> result
        self._sources: dict[int, tuple[list[str], list[str], Met]] = {}  # source -> (labels, values, met)
        self._lists: dict[tuple[int, int], list[str]] = {}  # (chain node, source) -> its values
        self._steps: dict[tuple[int, int], list[str]] = {}  # the same, computed step by step
        self._pieces: dict[int, _Piece] = {}
        self._index: dict[str, dict[str, list[tuple[str, str]]]] = {}
        self._literals: dict[str, frozenset[int]] = {}
        self._sets: dict[int, dict[str, frozenset[int]]] = {}  # RE2 set -> value -> hits
        self._shared: dict[int, list[tuple[str, list[str]]]] = {}
        # union key -> the answers (sets of slots that may match) over the rule's values
        self._unions: list[Hits | None] = [None] * len(ruleset.union_keys)  # by union index
        self._hits: dict[int, Hits] = {}  # piece << 16 + matcher -> the answers over its values
        self._contents: dict[int, tuple[int, ...] | None] = {}  # content key -> ids (see _content)
        self._cids: dict[str, int] = {}  # collection -> content id (see ValueCaches)
        self._keyed: dict[str, int] = {}  # COLLECTION:keys -> content id of those keys' entries
        # the same for the fast path's answers (see ValueCaches: a guard id, or a content id),
        # with the number of pairs a guard id's values were checked against (-1: a content id)
        self._gids: dict[str, tuple[int, int]] = {}
        self._gkeyed: dict[str, tuple[int, int]] = {}
        self._gcontents: dict[int, tuple[int, ...]] = {}  # content key -> ids (see _guard_content)
        self._snaps: dict[str, int] = {}  # collection -> how many of its pairs this request checks
        self._caches = ruleset.caches
        self._keep = ruleset.caches.value_chars  # values up to this long use the shared caches
        self._meeting: list[str] = []  # values met for the first time (see _met)
        # for the removal lists now: per phase, per item, whether they remove it (see _removals)
        self._removal: dict[int, list[bool]] | None = None
        self._flags: list[bool] | None = None  # the phase running now's, from _removal
        self._preparsed: tuple[str, BodyResult] | None = None  # see body_view

    # ----------------------------------------------------------------- variables
    def collection(self, name: str) -> list[tuple[str, str]]:
        """The entries of variable ``name`` (upper-case) right now."""
        if name == "TX":
            return list(self.tx.values())
        if name == "MATCHED_VAR":
            return [("", self.matched_var[1])] if self.matched_var[0] else []
        if name == "MATCHED_VAR_NAME":
            return [("", self.matched_var[0])] if self.matched_var[0] else []
        if name == "MATCHED_VARS":
            return list(self.matched_vars)
        if name == "MATCHED_VARS_NAMES":
            return [(k, k) for k, _ in self.matched_vars]
        if name == "ENV":
            return list(self.env.values())
        if name in ("IP", "GLOBAL", "SESSION", "USER", "RESOURCE"):
            return list(self.persistent.get(name, {}).values())
        if name == "RULE":
            return self._rule_entries()
        if name == "REQBODY_PROCESSOR":
            return [("", self.body_processor)] if self.body_processor else []
        return self.vars.get(name, [])

    def _rule_entries(self) -> list[tuple[str, str]]:
        rule = self.rule
        if rule is None:
            return []
        return [
            ("id", str(rule.id)),
            ("msg", self.expand(rule.msg)),
            ("severity", "" if rule.severity is None else str(rule.severity)),
            ("ver", rule.ver),
            ("phase", str(rule.phase)),
            ("logdata", rule.logdata),
        ]

    def expand(self, text: str) -> str:
        """``text`` with every ``%{COLLECTION.key}`` / ``%{VARIABLE}`` macro replaced."""
        if "%{" not in text:
            return text
        parts = _MACRO_PARTS.get(text)
        if parts is None:
            parts = _macro_parts(text)
        out: list[str] = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            upper, dot, lkey = part
            if dot and upper == "TX":  # the common case, one lookup (TX keys are stored lower-case)
                entry = self.tx.get(lkey)
                out.append(entry[1] if entry is not None else "")
                continue
            entries = self.collection(upper)
            if not dot:
                out.append(entries[0][1] if entries else "")
            else:
                out.append(next((v for k, v in entries if k.lower() == lkey), ""))
        return "".join(out)

    def _indexed(self, name: str) -> dict[str, list[tuple[str, str]]]:
        index = self._index.get(name)
        if index is None:
            index = {}
            for key, value in self.vars.get(name, []):
                index.setdefault(key.lower(), []).append((key, value))
            self._index[name] = index
        return index

    def _entries(self, compiled: CompiledRule, target: Target) -> list[tuple[str, str]]:
        name = target.collection
        if name == "XML":
            key = target.key if target.key == "//@*" else "/*"
            return [(k, v) for k, v in self.vars.get("XML", []) if k == key]
        if target.key is not None:
            key = self.expand(target.key) if "%{" in target.key else target.key
            lkey = key.lower()
            if name == "TX":
                entry = self.tx.get(lkey)
                return [entry] if entry is not None else []
            if name in self.vars and name not in _LIVE:
                return self._indexed(name).get(lkey, [])
            return [(k, v) for k, v in self.collection(name) if k.lower() == lkey]
        if target.key_regex is not None:
            pattern = compiled.key_regexes.get(target) or _pattern(target.key_regex)
            if pattern is None:
                return []
            if self._keep < 0:
                return [(k, v) for k, v in self.collection(name) if pattern.search(k)]
            keys = self._caches.keys
            answers = keys.get(target.key_regex)
            if answers is None:
                answers = _bounded_put(keys, target.key_regex, {}, 256)
            selected: list[tuple[str, str]] = []
            for k, v in self.collection(name):
                hit = answers.get(k)
                if hit is None:
                    hit = pattern.search(k) is not None
                    if len(answers) < _KEY_ANSWERS and len(k) <= self._keep:
                        answers[k] = hit
                if hit:
                    selected.append((k, v))
            return selected
        return self.collection(name)

    def resolve(self, compiled: CompiledRule) -> list[tuple[str, str]]:
        """``(label, value)`` for every value the rule's variables select now."""
        rule = compiled.rule
        excluded = compiled.exclusions
        dynamic = self.removed_targets.get(rule.id)
        if self.removed_targets_by_tag:
            tagged = [t for p, t in self.removed_targets_by_tag if any(p.search(tag) for tag in rule.tags)]
            dynamic = (dynamic or []) + tagged
        if dynamic:
            excluded = exclusions([t for t in rule.targets if t.exclude] + dynamic)
        out: list[tuple[str, str]] = []
        for target in rule.targets:
            if target.exclude:
                continue
            entries = self._entries(compiled, target)
            ex = excluded.get(target.collection)
            if ex is not None and entries:
                entries = [(k, v) for k, v in entries if ex.keeps(k)]
            if target.count:
                out.append((f"&{target.label()}", str(len(entries))))
                continue
            name = target.collection
            for key, value in entries:
                out.append((f"{name}:{key}" if key else name, value))
        return out

    # ---------------------------------------------------------------- actions
    def _store(self, collection: str) -> MutableMapping[str, tuple[str, str]]:
        if collection == "TX":
            return self.tx
        if collection == "ENV":
            return self.env
        return self.persistent.setdefault(collection, {})

    def setvar(self, rule: Rule) -> None:
        for sv in rule.setvars:
            name = self.expand(sv.name)
            store = self._store(sv.collection)
            key = name.lower()
            if sv.op == "!":
                store.pop(key, None)
                continue
            value = self.expand(sv.value)
            if sv.op == "=":
                store[key] = (name, value)
                continue
            current = store.get(key, (name, "0"))[1]
            try:
                base = int(current.strip() or 0)
            except ValueError:
                base = 0
            try:
                delta = int(value.strip() or 0)
            except ValueError:
                delta = 0
            store[key] = (name, str(base + delta if sv.op == "+" else base - delta))
        for key, value in rule.setenvs:
            name = self.expand(key)
            self.env[name.lower()] = (name, self.expand(value))

    def ctl(self, rule: Rule) -> None:
        for c in rule.ctls:
            value = self.expand(c.value)
            try:
                if c.name == "ruleremovebyid":
                    self.removed_ids.extend(parse_id_ranges(value))
                    self._removal = None
                    self._flags = None
                elif c.name == "ruleremovebytag":
                    self.removed_tags.append(re.compile(value))
                    self._removal = None
                    self._flags = None
                elif c.name == "ruleremovetargetbyid":
                    ids, _, targets = value.partition(";")
                    for low, high in parse_id_ranges(ids):
                        for rid in range(low, min(high, low + 100_000) + 1):
                            self.removed_targets.setdefault(rid, []).extend(parse_targets(targets))
                elif c.name == "ruleremovetargetbytag":
                    tag, _, targets = value.partition(";")
                    pattern = re.compile(tag)
                    self.removed_targets_by_tag.extend((pattern, t) for t in parse_targets(targets))
                    self._retargeted_by_tag.clear()
                elif c.name == "ruleengine":
                    if value.lower() == "off":
                        self.engine_on = False
                elif c.name == "requestbodyprocessor":
                    self.body_processor = value.upper()
                elif c.name == "requestbodyaccess":
                    self.body_access = value.lower() not in ("off", "false", "0")
            except (ValueError, re.error) as exc:
                log.debug("rule %s: ctl:%s=%s ignored: %s", rule.id, c.name, value, exc)

    # ------------------------------------------------------------- evaluation
    def _node(self, node: int, value: str) -> str:
        """``value`` through the chain ``node``: returned at once when the chain leaves it as
        it is (see :func:`_unchanged`); otherwise each step cached for the transaction by its
        input (a chain's prefixes are the nodes on its way to the root, so chains that share
        one share its results)."""
        if node == 0 or _unchanged(node, value):
            return value
        return self._steps_of(node, value)

    def _steps_of(self, node: int, value: str) -> str:
        """:meth:`_node` a step at a time."""
        if node == 0:
            return value
        parent, fn = _NODES[node]
        before = self._steps_of(parent, value)
        cache = self._transformed.get(node)
        if cache is None:
            cache = self._transformed[node] = {}
        out = cache.get(before)
        if out is None:
            out = cache[before] = fn(before)
        return out

    def _chain(self, node: int, value: str) -> str:
        """:meth:`_node`, with the whole chain's output for a short value kept across requests
        (one look-up instead of one per step)."""
        if node == 0 or len(value) > self._keep or not self._met(value):
            return self._node(node, value)  # nothing is kept the first time a value is met
        chains = self._caches.chains
        key = (node, value)
        out = chains.get(key)
        if out is None:
            out = _bounded_put(chains, key, self._node(node, value))
        return out

    def _node_list(self, node: int, source: int, values: list[str], met: Met) -> list[str]:
        """A source's ``values`` through the chain ``node``, as :meth:`_chain` gives each (kept
        per node and source for the transaction): the chain's output kept across requests for
        the values ``met`` before, the others computed a step at a time for the whole list
        (see :meth:`_step_list`)."""
        if node == 0:
            return values
        key = (node, source)
        out = self._lists.get(key)
        if out is not None:
            return out
        if met is None or True not in met:
            out = self._lists[key] = self._step_list(node, source, values)
            return out
        chains = self._caches.chains
        found = [chains.get((node, value)) if kept else None for value, kept in zip(values, met, strict=True)]
        if None not in found:
            complete = cast("list[str]", found)
            self._lists[key] = complete
            return complete
        done = self._step_list(node, source, values)
        for index, value in enumerate(values):
            if found[index] is None and met[index]:
                _bounded_put(chains, (node, value), done[index])
        self._lists[key] = done
        return done

    def _step_list(self, node: int, source: int, values: list[str]) -> list[str]:
        """``values`` through the chain ``node`` a step at a time, each step's list kept per
        (node, source) for the transaction and each step's result per input (as :meth:`_node`)."""
        if node == 0:
            return values
        key = (node, source)
        out = self._steps.get(key)
        if out is None and _all_unchanged(node, values):
            out = self._steps[key] = values  # the chain changes none of them
        if out is None:
            parent, fn = _NODES[node]
            before = self._step_list(parent, source, values)
            cache = self._transformed.get(node)
            if cache is None:
                cache = self._transformed[node] = {}
            get, put = cache.get, cache.setdefault
            out = self._steps[key] = [
                done if (done := get(value)) is not None else put(value, fn(value)) for value in before
            ]
        return out

    def _transform(self, compiled: CompiledRule, value: str) -> list[str]:
        if compiled.rule.multi_match:
            out = [value]
            for node in compiled.prefix_nodes:
                step = self._chain(node, value)
                if step != out[-1]:
                    out.append(step)
            return out
        return [self._chain(compiled.chain_id, value)]

    def _evaluate(self, compiled: CompiledRule, starter: Rule) -> bool:
        rule = compiled.rule
        if compiled.unsupported is not None:
            return False
        operator = compiled.operator
        pure = compiled.pure
        argument = ""  # a macro argument, expanded (the operator is built from it)
        if operator is None:
            argument = self.expand(rule.operator_arg)
            operator = compiled.operator_for(argument)
            if operator is None:
                return False
            pure = is_pure(operator)
        matched = False
        prefilters = self.ruleset.prefilters
        slot = compiled.slot
        guarded = prefilters is not None and slot in prefilters.guarded
        # with a pure operator, the values this link does not match (the operator refuses
        # them, or matches them when negated) are kept across requests; a value it matches is
        # always evaluated (its captures and actions are the transaction's)
        negated = rule.negated
        # a pure link that reads no live variable: its refusal of all its values is kept per
        # content ids of its collections (and expanded argument)
        content: tuple[int, ...] | None = None
        if (
            pure
            and compiled.content_key >= 0
            and self._keep >= 0
            and not ((self.removed_targets or self.removed_targets_by_tag) and self._retargeted(rule))
        ):
            content = self._content(compiled)
            if content is not None and (slot, content, argument) in self._caches.outcomes:
                return False
        prepared = self._prepared(compiled, guarded)
        refused = self._caches.refused if compiled.pure and len(prepared) <= _MANY else None
        matches = self._caches.matches
        if guarded and rule.multi_match and prefilters is not None and slot in prefilters.literal_slots:
            # every step of every value, joined, scanned once: if the rule's literals are not
            # there, no value matches; if they are, every value is evaluated
            if slot not in self._literal_join([v for _, values in prepared for v in values]):
                return False
            guarded = False
        for label, values in prepared:
            for value in values:
                if guarded and not self._may_match(slot, value):
                    continue
                if refused is not None and len(value) <= self._keep and self._met(value):
                    key = (slot, value)
                    if key in refused:
                        continue
                    hit = matches.get(key)
                    if hit is None:
                        hit = operator.evaluate(value)
                        if (hit is None) is not negated:  # no match for this link
                            _bounded_add(refused, key, CACHE_ENTRIES)
                            continue
                        if hit is not None:
                            _bounded_put(matches, key, hit, CACHE_ENTRIES)
                else:
                    hit = operator.evaluate(value)
                if negated:
                    if hit is not None:
                        continue
                    hit = ops.OperatorMatch(value)
                elif hit is None:
                    continue
                matched = True
                self.matched_var = (label, value)
                self.matched_vars.append((label, value))
                if rule.capture and hit.captures:
                    for index, text in enumerate(hit.captures[:_MAX_CAPTURES]):
                        self.tx[str(index)] = (str(index), text)
                self.setvar(rule)
                if not rule.multi_match:
                    break
        if not matched:
            if content is not None:
                _bounded_add(self._caches.outcomes, (slot, content, argument), CACHE_ENTRIES)
            return False
        if compiled.chain is not None:
            return self._evaluate(compiled.chain, starter)
        return True

    def _prepared(self, compiled: CompiledRule, guarded: bool) -> list[tuple[str, list[str]]]:
        """The rule's values, transformed. Rules with the same variables and transformations
        share one list per phase (unless a ``ctl`` changed this rule's targets or a variable
        is live), and for a shared list the fast path answers once per rule: a guarded rule
        whose patterns occur in none of the values gets ``[]`` (the caller still checks each
        value of a list it gets)."""
        rule = compiled.rule
        key = compiled.share_key
        if key is None or ((self.removed_targets or self.removed_targets_by_tag) and self._retargeted(rule)):
            return [(label, self._transform(compiled, raw)) for label, raw in self.resolve(compiled)]
        if guarded and compiled.guard and not self._candidate(compiled):
            return []
        shared = self._shared.get(key)
        if shared is None:
            shared = self._shared[key] = [
                (label, [value])
                for n, (piece_id, _, _) in enumerate(compiled.pieces)
                for piece in (self._pieces.get(piece_id) or self._piece(compiled, n),)
                for label, value in zip(piece.labels, piece.values, strict=True)
            ]
        return shared

    def _source(self, compiled: CompiledRule, n: int) -> tuple[list[str], list[str], Met]:
        """The labels and untransformed values of a shareable rule's ``n``-th selecting target
        (with its collection's exclusions), once per transaction, and per value whether an
        earlier request met it (see :meth:`_met`; ``None``: keep nothing about these values,
        for more than :data:`_MANY` of them or with the caches off)."""
        source = compiled.sources[n]
        found = self._sources.get(source)
        if found is None:
            _, target, ex = compiled.pieces[n]
            entries = self._entries(compiled, target)
            if ex is not None and entries:
                entries = [(k, v) for k, v in entries if ex.keeps(k)]
            name = target.collection
            values = [value for _, value in entries]
            met: Met = None
            if len(values) <= _MANY and self._keep >= 0:
                keep, seen, meeting = self._keep, self._caches.seen, self._meeting
                flags: list[bool] = []
                for value in values:
                    if len(value) > keep:
                        flags.append(False)
                    elif value in seen:
                        flags.append(True)
                    else:
                        meeting.append(value)
                        flags.append(False)
                met = tuple(flags)
            found = self._sources[source] = (
                [f"{name}:{key}" if key else name for key, _ in entries],
                values,
                met,
            )
        return found

    def _piece(self, compiled: CompiledRule, n: int) -> _Piece:
        """A shareable rule's ``n``-th selecting target's values, transformed: what
        :meth:`resolve` gives for it (no ``multiMatch``; the values are fixed for the phase)."""
        piece_id, target, _ = compiled.pieces[n]
        labels, values, met = self._source(compiled, n)
        if target.count:
            piece = _Piece(target.collection, [f"&{target.label()}"], [str(len(values))])
        elif not values:
            piece = _Piece(target.collection, [], [])
        else:
            piece = _Piece(
                target.collection,
                labels,
                self._node_list(compiled.chain_id, compiled.sources[n], values, met),
            )
        self._pieces[piece_id] = piece
        return piece

    def _content(self, compiled: CompiledRule) -> tuple[int, ...] | None:
        """The content ids of the collections of a rule that reads no live variable (see
        :class:`ValueCaches`), once per transaction and set of collections; ``None`` when one
        of them has none."""
        content_key = compiled.content_key
        if content_key in self._contents:
            return self._contents[content_key]
        ids: list[int] = []
        for name in compiled.collections:
            cid = self._collection_id(name)
            if cid < 0 and name in compiled.keyed:
                cid = self._keyed_id(name, compiled.keyed[name])
            if cid < 0:
                self._contents[content_key] = None
                return None
            ids.append(cid)
        found = self._contents[content_key] = tuple(ids)
        return found

    def _collection_id(self, name: str) -> int:
        """The content id of collection ``name`` (see :class:`ValueCaches`; -1: none), once
        per transaction (and again after the body changed it)."""
        cid = self._cids.get(name)
        if cid is None:
            cid = self._cids[name] = self._caches.content_id(name, self.vars.get(name, []))
        return cid

    def _keyed_id(self, name: str, keyed: Keys) -> int:
        """The content id of the entries of collection ``name`` under some literal keys (their
        label, their lower-case names): a rule reading ``REQUEST_HEADERS:User-Agent`` keeps
        its answers when only the cookie header changed. Ids share the collections' counter
        (an id never stands for two contents)."""
        label, keys = keyed
        cid = self._keyed.get(label)
        if cid is None:
            cid = self._keyed[label] = self._caches.content_id(label, self._keyed_entries(name, keys))
        return cid

    def _keyed_entries(self, name: str, keys: tuple[str, ...]) -> list[tuple[str, str]]:
        """The entries of collection ``name`` under the lower-case ``keys``."""
        index = self._indexed(name)
        return [entry for key in keys for entry in index.get(key, ())]

    def _guard_id(self, name: str) -> tuple[int, int]:
        """The id collection ``name`` has for the fast path's answers (see :class:`ValueCaches`):
        its guard id, with the number of pairs its values were checked against, or else its
        content id, with -1 (id -1: none)."""
        found = self._gids.get(name)
        if found is None:
            found = self._gids[name] = self._guarded(name, name, self._collection_id(name), None)
        return found

    def _guard_keyed_id(self, name: str, keyed: Keys) -> tuple[int, int]:
        """:meth:`_guard_id` for the entries of collection ``name`` under some literal keys."""
        label, keys = keyed
        found = self._gkeyed.get(label)
        if found is None:
            found = self._gkeyed[label] = self._guarded(name, label, self._keyed_id(name, keyed), keys)
        return found

    def _guarded(self, name: str, label: str, cid: int, keys: tuple[str, ...] | None) -> tuple[int, int]:
        """The guard id of collection ``name``'s entries (under ``keys``, or all; ``label``:
        the collection, or those keys), whose content id is ``cid``: a content met again
        finds it by its content id (``guards``), a new one has its values checked (see
        :meth:`_blanked`). Its content id when it has no guard id yet (0: empty)."""
        if cid == 0:
            return 0, -1
        checked = self._snaps.get(name)
        if checked is None:
            checked = self._snaps[name] = len(self._caches.order.get(name, ()))
        guards = self._caches.guards
        if cid > 0:
            kept = guards.get(cid)
            if kept is not None and kept[0] == checked:
                return kept[1], checked
        entries = self.vars.get(name, []) if keys is None else self._keyed_entries(name, keys)
        gid = self._blanked(name, label, checked, entries)
        if gid < 0:
            return cid, -1
        if cid > 0:
            _bounded_put(guards, cid, (checked, gid))
        return gid, checked

    def _blanked(self, name: str, label: str, checked: int, entries: list[tuple[str, str]]) -> int:
        """The guard id of ``entries`` of collection ``name`` (``label``: it, or the literal
        keys they were selected by): the content id of the entries with every value that is
        inert for the first ``checked`` pairs asked of ``name`` blanked (-1: none)."""
        if not entries or len(entries) > _MANY:
            return -1
        blanked: list[tuple[str, str | None]] = []
        for key, value in entries:
            if len(value) > _CONTENT_CHARS:
                return -1
            blanked.append((key, None if self._inert(name, checked, key.lower(), value) else value))
        return self._caches.content_id(f"{label}\x00{checked}", blanked)

    def _inert(self, name: str, checked: int, key: str, value: str) -> bool:
        """Whether none of the first ``checked`` pairs asked of collection ``name`` finds in
        ``value`` (under lower-case ``key``) anything a rule reading that entry through that
        pair asks about (a matcher answers for every rule it guards; the others' answers are
        never read for this entry): the answer kept across requests for a value met before."""
        if not checked:
            return True
        caches = self._caches
        met = self._met(value) and len(value) <= self._keep and len(key) <= self._keep
        if met:
            found = caches.inert.get((name, checked, key, value))
            if found is not None:
                return found
        named = key if key in self.ruleset.named_keys.get(name, ()) else ""
        plan = caches.plans.get((name, checked, named))
        if plan is None:
            plan = _bounded_put(caches.plans, (name, checked, named), self._plan(name, checked, named))
        inert = True
        node = -1
        text = value
        for step, matcher, slots in plan:
            if step != node:
                node = step
                text = value if not node else self._chain(node, value) if met else self._node(node, value)
            hits = self._set_hits(matcher - 1, text, met) if matcher else self._literal_hits(text, met)
            if hits and (slots is None or not hits.isdisjoint(slots)):
                inert = False
                break
        if met:
            _bounded_put(caches.inert, (name, checked, key, value), inert, _HITS_ENTRIES)
        return inert

    def _plan(self, name: str, checked: int, key: str) -> tuple[tuple[int, int, frozenset[int] | None], ...]:
        """What :meth:`_inert` asks of an entry of collection ``name`` under ``key`` (a key
        some rule names, or ""): per pair among the first ``checked`` that some rule reads the
        entry through, its chain node, its matcher and those rules' slots (None: unknown, any
        slot counts), ordered by node (each chain's output is computed once)."""
        order = self._caches.order[name]
        readers = self.ruleset.readers
        plan: list[tuple[int, int, frozenset[int] | None]] = []
        for number in range(checked):
            pair = order[number]
            reading = readers.get((name, pair))
            slots = reading.of(key) if reading is not None else None
            if slots is None or slots:
                plan.append((pair >> 16, pair & 0xFFFF, slots))
        plan.sort(key=lambda step: (step[0], step[1]))
        return tuple(plan)

    def _guard_content(self, compiled: CompiledRule) -> tuple[int, ...]:
        """The ids under which a guarded shareable rule's union is kept (see :meth:`_union`):
        per collection its guard id or content id, once per transaction and set of
        collections (none when a collection has neither)."""
        found = self._gcontents.get(compiled.content_key)
        if found is None:
            ids: list[int] = []
            for name in compiled.collections:
                cid = self._collection_guard(compiled, name)[0]
                if cid < 0:
                    break
                ids.append(cid)
            found = self._gcontents[compiled.content_key] = (
                tuple(ids) if len(ids) == len(compiled.collections) else ()
            )
        return found

    def _collection_guard(self, compiled: CompiledRule, name: str) -> tuple[int, int]:
        """The guard id (or content id) a rule reads collection ``name`` by, and the pairs
        checked for it (see :meth:`_guard_id`): the whole collection's, or the literal keys'."""
        found = self._guard_id(name)
        if found[0] < 0 and name in compiled.keyed:
            found = self._guard_keyed_id(name, compiled.keyed[name])
        return found

    def _storable(self, compiled: CompiledRule) -> bool:
        """Whether a union computed in this request may be kept under its ids: only if, for
        every collection with a guard id, the rule's pair is among those its values were
        checked against. An answer kept under some ids was checked so when it was kept (the
        ids name the pairs checked), so a look-up needs no such check."""
        caches = self._caches
        needs = caches.needs.get(compiled.union_key)
        if needs is None or needs[0] != caches.numbered:
            needs = self._needs(compiled)
        collections = compiled.collections
        for position, number in needs[1]:
            checked = self._collection_guard(compiled, collections[position])[1]
            if checked >= 0 and number >= checked:
                return False
        return True

    def _needs(self, compiled: CompiledRule) -> tuple[int, tuple[tuple[int, int], ...]]:
        """Per collection a guarded shareable rule's pieces read (its position in
        ``compiled.collections``), the number of the rule's pair there (see
        :class:`ValueCaches`; :data:`_UNNUMBERED` if it had none: then only that collection's
        content id will do in this request, and the pair is numbered for the next ones, even
        for a collection this request leaves empty), kept with how many pairs were numbered."""
        caches = self._caches
        numbered = caches.numbered
        pair = compiled.chain_id << 16 | (compiled.union_key & 0xFFFF)
        out: list[tuple[int, int]] = []
        for _, _, collection, count in compiled.guard_plan:
            if count:
                continue
            number = caches.demand.get(collection, _NO_PAIRS).get(pair)
            if number is None:
                caches.ask(collection, pair)
            out.append((compiled.collections.index(collection), _UNNUMBERED if number is None else number))
        needs = caches.needs[compiled.union_key] = (numbered, tuple(out))
        return needs

    def _candidate(self, compiled: CompiledRule) -> bool:
        """Whether a guarded shareable rule may match one of its values."""
        hits = self._unions[compiled.union_index]
        if hits is None:
            hits = self._union(compiled)
        slot = compiled.slot
        return any(slot in found for found in hits)

    def _union(self, compiled: CompiledRule) -> Hits:
        """The slots that may match one of a guarded shareable rule's values, by its matcher
        (the literal database, or its RE2 set): computed once per transaction for every rule
        with the same values and matcher, from the answers per piece (pieces recur in many
        rules; see :meth:`_piece_hits`). An empty collection is skipped before anything is
        built for it."""
        content: tuple[int, ...] = ()
        if compiled.content_key >= 0 and self._keep >= 0:
            content = self._guard_content(compiled)
            if content:
                kept = self._caches.unions.get((compiled.union_key, content))
                if kept is not None:
                    self._unions[compiled.union_index] = kept
                    return kept
        cache = self._hits
        variables = self.vars
        union: Hits = ()
        pieces = 0
        for n, key, collection, count in compiled.guard_plan:
            if not count and not variables.get(collection):
                continue
            hits = cache.get(key)
            if hits is None:
                hits = self._piece_hits(compiled, n, key)
            if hits:
                union = hits if not union else union + hits
                pieces += 1
        if pieces > 1:
            union = _distinct(list(union))
        self._unions[compiled.union_index] = union
        if content and self._storable(compiled):
            _bounded_put(self._caches.unions, (compiled.union_key, content), union, CACHE_ENTRIES)
        return union

    def _piece_hits(self, compiled: CompiledRule, n: int, key: int) -> Hits:
        """The slots the rule's matcher (``key & 0xFFFF``; 0: the literal database, else RE2
        set ``matcher - 1``) finds in a shareable rule's ``n``-th piece (``key``: its
        ``guard_plan`` key): the union of its answers per value, each kept
        across requests per (chain, matcher, untransformed value) for short values, so a
        repeated value costs one look-up, whatever its chain (the transformed values are
        only built when a value has no answer kept). Values not met by an earlier request
        (see :meth:`_source`) are answered for this request only, as without these caches:
        the literal matcher scans them joined."""
        cid = -1
        matcher = key & 0xFFFF
        target = compiled.pieces[n][1]
        collection = target.collection
        pair = compiled.chain_id << 16 | matcher
        checked = -1
        if self._keep >= 0:
            cid, checked = self._guard_id(collection)
            piece_keys = compiled.piece_keys[n]
            if cid < 0 and piece_keys is not None:
                cid, checked = self._guard_keyed_id(collection, piece_keys)
        if cid >= 0:  # an answer kept under a guard id was checked for its pair (see _storable)
            kept = self._caches.pieces.get((key, cid))
            if kept is not None:
                self._hits[key] = kept
                return kept
        _, values, met = self._source(compiled, n)
        node = compiled.chain_id
        if target.count:
            values, node, met = [str(len(values))], 0, ((True,) if self._keep >= 0 else None)
        elif self._keep >= 0:
            self._caches.ask(collection, pair)
        shared = self._caches.hits
        found: list[frozenset[int]] = []
        missed: list[int] = []  # values met before with no answer kept yet: answered, kept
        new: list[int] = []  # the others: answered for this request only
        if met is None:
            new = list(range(len(values)))
        else:
            for index, value in enumerate(values):
                if not met[index]:
                    new.append(index)
                    continue
                hits = shared.get((node, matcher, value))
                if hits is None:
                    missed.append(index)
                elif hits:
                    found.append(hits)
        if missed or new:
            done = self._node_list(node, compiled.sources[n], values, met) if node else values
            if matcher:
                for index in missed:
                    hits = self._set_hits(matcher - 1, done[index])
                    self._keep_hits(node, matcher, values[index], hits)
                    if hits:
                        found.append(hits)
                for index in new:
                    hits = self._set_hits(matcher - 1, done[index], False)
                    if hits:
                        found.append(hits)
            else:
                if len(missed) > 1:
                    missed = self._joined_literal_hits(node, values, done, missed, found)
                for index in missed:
                    hits = self._literal_hits(done[index])
                    self._keep_hits(node, matcher, values[index], hits)
                    if hits:
                        found.append(hits)
                if new:
                    joined = self._literal_join([done[index] for index in new])
                    if joined:
                        found.append(joined)
        union = _distinct(found)
        self._hits[key] = union
        if cid >= 0 and (checked < 0 or target.count or self._checked(collection, pair, checked)):
            _bounded_put(self._caches.pieces, (key, cid), union, CACHE_ENTRIES)
        return union

    def _checked(self, collection: str, pair: int, checked: int) -> bool:
        """Whether ``pair`` is among the first ``checked`` pairs asked of ``collection``."""
        number = self._caches.demand.get(collection, _NO_PAIRS).get(pair)
        return number is not None and number < checked

    def _met(self, value: str) -> bool:
        """Whether ``value`` was met by an earlier request (then its answers are worth
        keeping); if not, it is noted, for the requests after this one (see :meth:`run`).
        Values too long to keep count as met (nothing about them is kept anyway)."""
        if len(value) > self._keep:
            return self._keep >= 0
        if value in self._caches.seen:
            return True
        self._meeting.append(value)
        return False

    def _keep_hits(self, node: int, matcher: int, value: str, hits: frozenset[int]) -> None:
        """Keep a matcher's answer for an untransformed value (see :meth:`_piece_hits`)."""
        if len(value) <= self._keep:
            _bounded_put(self._caches.hits, (node, matcher, value), hits, _HITS_ENTRIES)

    def _joined_literal_hits(
        self, node: int, values: list[str], done: list[str], missed: list[int], found: list[frozenset[int]]
    ) -> list[int]:
        """The literal matcher over several values of a piece at once: the answers kept per
        transformed value first, then one scan of the others joined by newlines (a literal in
        a value is in the join; one that spans a newline only costs an evaluation, where each
        value is checked again). Adds what it finds to ``found``; when the join holds no
        literal, no value does, and that answer is kept for each; when it holds some, they
        cannot be told apart and the values are returned, to be scanned one by one only if
        they are few."""
        literals = self._caches.literals if self._keep >= 0 else self._literals
        rest: list[int] = []
        for index in missed:
            hits = literals.get(done[index])
            if hits is None:
                rest.append(index)
                continue
            self._keep_hits(node, 0, values[index], hits)
            if hits:
                found.append(hits)
        if len(rest) <= 1:
            return rest
        assert self.ruleset.prefilters is not None
        joined = self.ruleset.prefilters.literal_hits(to_bytes("\n".join(done[i] for i in rest)))
        if not joined:
            for index in rest:
                self._keep_hits(node, 0, values[index], _NOTHING)
            return []
        if len(rest) <= _SCAN_ALONE:
            return rest
        found.append(joined)
        return []

    def _literal_join(self, texts: list[str]) -> frozenset[int]:
        """The literal-guarded slots whose literal occurs in one of ``texts`` (or spans two:
        they are joined by newlines and scanned once; kept for this transaction only)."""
        if len(texts) == 1:
            return self._literal_hits(texts[0])
        joined = "\n".join(texts)
        found = self._literals.get(joined)
        if found is None:
            assert self.ruleset.prefilters is not None
            found = self._literals[joined] = self.ruleset.prefilters.literal_hits(to_bytes(joined))
        return found

    def _literal_hits(self, value: str, share: bool = True) -> frozenset[int]:
        """The literal-guarded slots whose literal occurs in ``value`` (kept across requests
        for short values if ``share``, else for this transaction)."""
        cache = self._caches.literals if share and len(value) <= self._keep else self._literals
        found = cache.get(value)
        if found is None:
            assert self.ruleset.prefilters is not None
            found = _bounded_put(cache, value, self.ruleset.prefilters.literal_hits(to_bytes(value)))
        return found

    def _set_hits(self, index: int, value: str, share: bool = True) -> frozenset[int]:
        """The slots of RE2 set ``index`` that match ``value`` (cached as :meth:`_literal_hits`;
        for this transaction only unless ``share``)."""
        if share and len(value) <= self._keep:
            shared = self._caches.sets
            key = (index, value)
            found = shared.get(key)
            if found is None:
                assert self.ruleset.prefilters is not None
                found = _bounded_put(shared, key, self.ruleset.prefilters.set_hits(index, to_bytes(value)))
            return found
        cache = self._sets.get(index)
        if cache is None:
            cache = self._sets[index] = {}
        found = cache.get(value)
        if found is None:
            assert self.ruleset.prefilters is not None
            found = cache[value] = self.ruleset.prefilters.set_hits(index, to_bytes(value))
        return found

    def _may_match(self, slot: int, value: str) -> bool:
        """Whether the guarded rule in ``slot`` may match ``value`` (cached per value)."""
        prefilters = self.ruleset.prefilters
        assert prefilters is not None
        if slot in prefilters.literal_slots:
            return slot in self._literal_hits(value)
        return slot in self._set_hits(prefilters.set_of[slot], value)

    def _retargeted(self, rule: Rule) -> bool:
        """Whether a ``ctl:ruleRemoveTargetById`` / ``ByTag`` changed this rule's (or chain
        link's) targets: only then does it need its own values (see :meth:`resolve`)."""
        if rule.id in self.removed_targets:
            return True
        tagged = self.removed_targets_by_tag
        if not tagged:
            return False
        hit = self._retargeted_by_tag.get(id(rule))
        if hit is None:
            hit = self._retargeted_by_tag[id(rule)] = any(
                p.search(tag) for p, _ in tagged for tag in rule.tags
            )
        return hit

    def _removals(self, phase: int) -> list[bool]:
        """Per item of ``phase``, whether the ``ctl:ruleRemoveById`` / ``ByTag`` lists so far
        remove it: worked out once per phase for each distinct pair of lists, across requests
        (the lists only change by ``ctl``, and most requests see the same ones). A list, read
        by the item's index: the rules loop asks for every rule of every request."""
        answers = self._removal
        if answers is None:
            state = (tuple(self.removed_ids), tuple(p.pattern for p in self.removed_tags))
            removals = self._caches.removals
            answers = removals.get(state)
            if answers is None:
                answers = _bounded_put(removals, state, {}, _REMOVAL_STATES)
            self._removal = answers
        flags = answers.get(phase)
        if flags is None:
            ranges = self.removed_ids
            tags = self.removed_tags
            flags = [
                isinstance(item, CompiledRule)
                and (
                    any(low <= item.rule.id <= high for low, high in ranges)
                    or any(p.search(t) for p in tags for t in item.rule.tags)
                )
                for item in self.ruleset.phases.get(phase, ())
            ]
            answers[phase] = flags
        self._flags = flags
        return flags

    def _removed_at(self, phase: int, index: int) -> bool:
        """Whether the removal lists now remove item ``index`` of ``phase`` (see _removals)."""
        flags = self._flags
        if flags is None:
            flags = self._removals(phase)
        return flags[index]

    def _after_match(self, compiled: CompiledRule) -> None:
        link: CompiledRule | None = compiled
        while link is not None:
            self.ctl(link.rule)
            link = link.chain
        rule = compiled.rule
        if rule.log:
            self.logged.append(
                LogEntry(
                    rule.id,
                    self.expand(rule.msg),
                    self.expand(rule.logdata),
                    rule.severity,
                    rule.tags,
                    self.matched_var[0],
                    self.matched_var[1],
                )
            )
        if rule.disruptive == "allow":
            self.allowed = True

    def run_phase(self, phase: int) -> None:
        items = self.ruleset.phases.get(phase, ())
        markers = self.ruleset.markers.get(phase, {})
        folded = self.ruleset.folded.get(phase) or (None,) * len(items)
        tx = self.tx
        unions = self._unions
        i = 0
        check = self.check
        self._flags = None
        while i < len(items) and self.engine_on and not self.allowed:
            item = items[i]
            done = folded[i]
            i += 1
            if check is not None and not i & 7:
                check()
            if done is not None:
                removing = self.removed_ids or self.removed_tags
                if done.removable and removing and self._removed_at(phase, i - 1):
                    continue
                for key, entry in done.writes:
                    if entry is None:
                        tx.pop(key, None)
                    else:
                        tx[key] = entry
                if done.matched_var is not None:
                    self.matched_var = done.matched_var
                elif done.uri:
                    assert isinstance(item, CompiledRule)
                    uri = self.vars["REQUEST_URI"][0][1]
                    self.matched_var = ("REQUEST_URI", self._chain(item.chain_id, uri))
                i = done.next
                continue
            if isinstance(item, Marker):
                continue
            rule = item.rule
            # the next two checks are _removals's and _candidate's answers read in place: this
            # loop runs once per rule and request (rampart's CRS set-up removes a rule by ctl)
            if (self.removed_ids or self.removed_tags) and self._removed_at(phase, i - 1):
                continue
            if item.guard and not (
                (self.removed_targets or self.removed_targets_by_tag) and self._retargeted(rule)
            ):
                hits = unions[item.union_index]
                if hits is None:
                    hits = self._union(item)
                slot = item.slot
                for found in hits:
                    if slot in found:
                        break
                else:
                    continue  # what _evaluate would find: none of the rule's patterns in its values
            self.rule = rule
            self.matched_vars = []
            if not self._evaluate(item, rule):
                continue
            self._after_match(item)
            if rule.skip_after is not None:
                i = markers.get(rule.skip_after, len(items) - 1) + 1
            elif rule.skip:
                skipped = 0
                while i < len(items) and skipped < rule.skip:
                    if not isinstance(items[i], Marker):
                        skipped += 1
                    i += 1

    def process_body(self) -> None:
        """Choose the body processor (unless a ``ctl`` chose one) and add its variables."""
        if not self.body_access:
            return
        processor = self.body_processor
        if self.check is not None:
            self.check()
        if self.body:
            preparsed = self._preparsed
            if preparsed is not None and preparsed[0] == processor:
                result = preparsed[1]
            else:
                result = parse_body(processor, self.body, self.content_type)
            if self.check is not None:
                self.check()
        elif processor == "XML":  # libxml2 refuses an empty document; the other processors skip it
            result = BodyResult(error="XML parsing error: XML: Failed to parse document.")
        else:
            # no body (most GETs): of what body_variables sets, only REQUEST_BODY can differ
            # from what request_variables set (an empty list becomes one empty value)
            # (nothing phase 1 prepared can come from it unless a phase-1 rule mentions it)
            if self.vars["REQUEST_BODY"] != _EMPTY_BODY:
                self.vars["REQUEST_BODY"] = list(_EMPTY_BODY)
                if self.ruleset.body_in_phase1:
                    self._forget({"REQUEST_BODY"})
            return
        before = dict(self.vars)
        body_variables(self.vars, self.body, result, self.ruleset.arguments_limit)
        changed: set[str] = set()
        for name, entries in self.vars.items():
            old = before.get(name)
            if old is entries:
                continue
            if old == entries:  # the same entries: what phase 1 prepared from them stays
                self.vars[name] = old
            else:
                changed.add(name)
        if changed:
            self._forget(changed)

    def _forget(self, changed: set[str]) -> None:
        """Drop what phase 1 prepared from the collections the body changed; what it prepared
        from the others (headers, URI, cookies) stays."""
        for name in changed & set(self._index):
            del self._index[name]
        for piece_id in [i for i, piece in self._pieces.items() if piece.collection in changed]:
            del self._pieces[piece_id]
        for hit in [k for k in self._hits if _PIECE_COLLECTIONS[k >> 16] in changed]:
            del self._hits[hit]
        for source in [s for s in self._sources if _SOURCE_COLLECTIONS[s] in changed]:
            del self._sources[source]
        for key in [k for k in self._lists if _SOURCE_COLLECTIONS[k[1]] in changed]:
            del self._lists[key]
        for key in [k for k in self._steps if _SOURCE_COLLECTIONS[k[1]] in changed]:
            del self._steps[key]
        for share in [k for k in self._shared if _SHARE_COLLECTIONS[k] & changed]:
            del self._shared[share]
        # the ids of the changed collections, exact and for the fast path
        for contents, ids, keyed in (
            (self._contents, self._cids, self._keyed),
            (self._gcontents, self._gids, self._gkeyed),
        ):
            for content in [k for k in contents if _CONTENT_NAMES[k] & changed]:
                del contents[content]
            for name in changed & set(ids):
                del ids[name]
            for label in [k for k in keyed if k.partition(":")[0] in changed]:
                del keyed[label]
        unions = self._unions
        for n, union_key in enumerate(self.ruleset.union_keys):
            if unions[n] is not None and _SHARE_COLLECTIONS[union_key >> 16] & changed:
                unions[n] = None

    # what rampart.gateway.engines.native.seclang.memo asks of a transaction
    def body_view(self, processor: str) -> Variables:
        """The variables phase 2 sees when phase 1 leaves ``processor`` chosen (and the body
        read): this request's body parsed now, the parse kept for :meth:`process_body`."""
        result = parse_body(processor, self.body, self.content_type)
        self._preparsed = (processor, result)
        view = dict(self.vars)
        body_variables(view, self.body, result, self.ruleset.arguments_limit)
        return view

    def met_before(self, value: str) -> bool:
        """Whether answers about ``value`` are kept across requests (see :meth:`_met`)."""
        return self._met(value) and len(value) <= self._keep

    def through(self, node: int, value: str, met: bool) -> str:
        """``value`` through the transformation chain ``node`` (kept across requests if
        ``met``)."""
        if not node:
            return value
        return self._chain(node, value) if met else self._node(node, value)

    def matcher_hits(self, matcher: int, text: str, met: bool) -> frozenset[int]:
        """The slots the fast path's ``matcher`` (0: the literal database, else RE2 set
        ``matcher - 1``) finds in ``text``."""
        return self._set_hits(matcher - 1, text, met) if matcher else self._literal_hits(text, met)

    def transformed(self, compiled: CompiledRule, value: str) -> list[str]:
        """What the rule link's operator is given for ``value`` (every step's output for
        ``multiMatch``)."""
        return self._transform(compiled, value)

    def removed_folded(self) -> bool:
        """Whether this transaction's ``ctl:ruleRemoveById`` / ``ByTag`` lists remove a rule
        whose outcome was folded and that jumps (its walk may then reach rules no folded walk
        reaches, CRS's blocks above the paranoia level)."""
        if not (self.removed_ids or self.removed_tags):
            return False
        for phase, folded in self.ruleset.folded.items():
            flags = self._removals(phase)
            for i, done in enumerate(folded):
                if done is not None and done.removable and done.next != i + 1 and flags[i]:
                    return True
        return False

    def run(self) -> None:
        """Phase 1, the body processor, phase 2; then the values met for the first time are
        noted as met (answers about them are kept from the next request that has them on)."""
        self.run_phase(1)
        self.process_body()
        self.run_phase(2)
        self.note_met()

    def note_met(self) -> None:
        """Note the values this transaction met for the first time (see :meth:`_met`)."""
        if self._meeting:
            seen = self._caches.seen
            if len(seen) + len(self._meeting) > _HITS_ENTRIES:
                seen.clear()
            seen.update(self._meeting)


def run_request(
    ruleset: CompiledRuleset,
    request: RawRequest,
    body: bytes,
    unique_id: str,
    check: Callable[[], None] | None = None,
) -> Transaction:
    """A finished transaction for ``request``; ``check`` (the request's budget) is called
    every few rules and around the body processor, and may raise to stop the run."""
    tx = Transaction(ruleset, request, body, unique_id, check)
    tx.run()
    return tx
