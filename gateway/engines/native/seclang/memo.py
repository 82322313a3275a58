"""CRS's answer for a request, kept per *shape* of request: its variables with every value that
no rule can match blanked.

Most requests to an application differ from an earlier one only in values no rule reacts to:
a new session cookie, a new page number, a token. The executor's caches already make such a
request cheaper (:class:`~.executor.ValueCaches`), but every rule is still walked. This module
lets the engine skip the walk: :func:`memo_key` builds a key from the request's variables in
which a value is replaced by ``None`` when it is *quiet*, that is when no rule of phases 1 and
2 that reads it can match it:

- every guarded rule reading the entry (its collection and key) through a (chain, matcher)
  pair of the fast path finds none of its patterns there (the prefilter is sound: a rule the
  walk would skip for that reason cannot match the value), or, where the prefilter cannot rule
  it out, its operator refuses the value as the walk would evaluate it, and
- every other rule reading the entry has an operator whose answer depends on the value alone
  (:func:`~.executor.is_pure`) and, through the rule's transformations, refuses it (accepts it
  when negated).

Readers are the rule links some walk can reach: the folded rules' recorded jumps are followed,
so CRS's blocks above the paranoia level read nothing. A ``ctl:ruleRemoveById`` / ``ByTag``
that removes a folded rule (the jump) would let a walk reach them; the engine keeps no verdict
of such a walk (:meth:`~.executor.Transaction.removed_folded`), and by induction over the walk
no request of the same key makes one: both requests reach the same rules in the same state.

Two requests with the same key then take the same walk: the values that differ are the quiet
ones, no rule matches any of them, and everything a rule can read besides (keys, entry counts,
the other values, the body) is in the key as it is. What the executor reads without a rule is
kept whole too: the ``Content-Type`` header (it picks the body processor), every value a macro
names where the macro acts on the walk (``%{REQUEST_HEADERS.host}`` in an operator argument, a
``setvar``, a ``ctl``), every entry a rule reads with an operator that is not pure
(``@within %{tx.allowed_methods}``: the argument is the transaction's), and the values a rule
that matches whatever the value (a ``SecAction``: ``REQUEST_URI``, ``@unconditionalMatch``)
reads when its own actions name ``MATCHED_VAR`` or when some rule reads the ``MATCHED_VAR`` an
earlier rule left (otherwise such a rule is no reader: it matches every value alike). A
macro in a message or log data (``logdata:'%{request_line}'``) is expanded only when its rule
logs: a verdict in which such a rule logged is not kept.
Collections no rule names are left out. The body processor is chosen by phase 1, so a request
with a body is keyed in two steps: its *head* (the key of its variables before phase 1, which
decides phase 1's walk, hence the processor), then what its body gives under the processor
phase 1 chose for an earlier request of the same head, blanked the same way (the parse is kept
for the walk). Bodies over :data:`MEMO_BODY_BYTES` are never keyed.

The check is conservative elsewhere: chain links count whether or not the chain starts, a
key regex (``REQUEST_COOKIES:/Version/``) selects every key, exclusions (``!ARGS:foo``) are
ignored. A value it cannot call quiet stays in the key; that only costs a memo entry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rampart.gateway.engines.native.seclang.executor import (
    CACHE_VALUE_CHARS,
    CompiledRule,
    CompiledRuleset,
    Readers,
    Transaction,
    is_pure,
    literal_key,
    live_variable,
    macro_references,
)
from rampart.gateway.engines.native.seclang.operators.always import Always
from rampart.gateway.engines.native.seclang.rules import Marker
from rampart.gateway.engines.native.seclang.variables import Variables

__all__ = ["MEMO_BODY_BYTES", "MemoPlan", "VerdictMemo", "build_plan", "keeps", "memo_key"]

MEMO_BODY_BYTES = 4096
"""Requests with a longer body are never keyed (their body is parsed by the walk alone)."""
_MANY = 256  # a collection with more entries than this makes the request unkeyed
_VALUE_CHARS = 4096  # a longer value is never called quiet (kept whole)
_ANSWERS = 16384  # (collection, key, value) -> quiet, for values met before: emptied when full
_LONG_ANSWERS = 512  # the same for values over CACHE_VALUE_CHARS (up to _VALUE_CHARS)
_ALL: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class MemoPlan:
    """What :func:`memo_key` needs to know of a compiled rule set, worked out once.

    ``read``: the collections some rule or macro reads, in key order; ``exact``: per collection,
    the lower-case keys whose values are kept whole (``None``: all of them); ``pairs``: per
    collection, the fast path's (chain node, matcher, readers) that guarded rules read it
    through, by node; ``links``: per collection, the other rule links reading it, each with the
    one lower-case key it names (``None``: it may read any entry); ``guarded``: the links
    reached, by slot (a prefilter hit is decided by the link's operator); ``logging``: the
    rules whose message or log data reads the request (a verdict where one logged is not
    kept, see :func:`keeps`); ``answers``: values found quiet or not, per (collection,
    lower-case key, value), for values met before (``long_answers`` for values longer than
    the executor keeps, ``long_pending``: the hashes of those met once)."""

    read: tuple[str, ...]
    exact: dict[str, frozenset[str] | None]
    pairs: dict[str, tuple[tuple[int, int, Readers], ...]]
    links: dict[str, tuple[tuple[CompiledRule, str | None], ...]]
    guarded: dict[int, CompiledRule]
    logging: frozenset[int]
    answers: dict[tuple[str, str, str], bool]
    long_answers: dict[tuple[str, str, str], bool]
    long_pending: set[int]


def _texts(link: CompiledRule) -> list[str]:
    """The texts of a rule link that may hold a macro and act on the walk: the operator's
    argument, ``setvar``, ``setenv``, ``ctl``, the other actions and the targets' keys (a
    message or log data only once the rule matched: see :func:`_log_texts`)."""
    rule = link.rule
    out = [rule.operator_arg]
    out += [text for setvar in rule.setvars for text in (setvar.name, setvar.value)]
    out += [text for pair in rule.setenvs for text in pair]
    out += [ctl.value for ctl in rule.ctls]
    out += [value for _, value in rule.extra]
    out += [target.key for target in rule.targets if target.key is not None]
    return out


def _links(starter: CompiledRule) -> list[CompiledRule]:
    """A rule and its chained links, in order."""
    out: list[CompiledRule] = []
    link: CompiledRule | None = starter
    while link is not None:
        out.append(link)
        link = link.chain
    return out


def _log_texts(link: CompiledRule) -> list[str]:
    """The link's message and log data, expanded when the rule logs (or reads its own
    ``RULE.msg`` / ``RULE.logdata``, which :func:`build_plan` counts as acting on the walk)."""
    return [link.rule.msg, link.rule.logdata]


_OWN_TEXT = ("%{rule.msg}", "%{rule.logdata}")
_PREVIOUS_MATCH = frozenset({"MATCHED_VAR", "MATCHED_VAR_NAME"})


def _reads_previous_match(link: CompiledRule) -> bool:
    """Whether a rule link reads ``MATCHED_VAR`` before it matches: the one left by the rule
    (or link) before it (a ``SecAction`` leaves the request's URI there)."""
    rule = link.rule
    return any(t.collection in _PREVIOUS_MATCH for t in rule.targets) or any(
        name in _PREVIOUS_MATCH for name in re.findall(r"%\{([A-Za-z_]+)", rule.operator_arg.upper())
    )


def _reachable(ruleset: CompiledRuleset, phase: int) -> list[bool]:
    """Per item of ``phase``, whether the walk of a request whose ``ctl`` removes no folded
    rule may reach it (the engine keeps no verdict of any other, see
    :meth:`~.executor.Transaction.removed_folded`): a folded rule goes on where its recorded
    outcome says, a rule that matches may skip; jumps only go forward, so one pass in order
    sees every way into an item (CRS's blocks above the paranoia level are never reached)."""
    items = ruleset.phases.get(phase, ())
    folded = ruleset.folded.get(phase) or (None,) * len(items)
    markers = ruleset.markers.get(phase, {})
    reached = [False] * (len(items) + 1)
    if items:
        reached[0] = True
    for i, item in enumerate(items):
        if not reached[i]:
            continue
        done = folded[i]
        if done is not None:
            reached[min(done.next, len(items))] = True
            continue
        reached[i + 1] = True
        if isinstance(item, CompiledRule):
            rule = item.rule
            if rule.skip_after is not None:
                reached[min(markers.get(rule.skip_after, len(items) - 1) + 1, len(items))] = True
            elif rule.skip:
                j, skipped = i + 1, 0
                while j < len(items) and skipped < rule.skip:
                    if not isinstance(items[j], Marker):
                        skipped += 1
                    j += 1
                reached[j] = True
    return reached[: len(items)]


def build_plan(ruleset: CompiledRuleset) -> MemoPlan | None:
    """The :class:`MemoPlan` of ``ruleset``; None without the fast path (its prefilters say
    which guarded rules read what)."""
    if ruleset.prefilters is None:
        return None
    read: set[str] = {"REQUEST_HEADERS"}
    exact: dict[str, set[str] | None] = {"REQUEST_HEADERS": {"content-type"}}
    links: dict[str, list[tuple[CompiledRule, str | None]]] = {}
    reached: dict[int, CompiledRule] = {}  # the links some walk may reach, by slot
    logging: set[int] = set()  # rules whose message or log data reads the request
    # collections whose values a rule that matches every value leaves in MATCHED_VAR, and
    # whether some rule reads the MATCHED_VAR left before it
    left: set[str] = set()
    previous_read = False

    def keep(collection: str, key: str | None) -> None:
        if key is None:
            exact[collection] = None
            return
        keys = exact.setdefault(collection, set())
        if keys is not None:
            keys.add(key)

    for phase in (1, 2):
        items = ruleset.phases.get(phase, ())
        folded = ruleset.folded.get(phase) or (None,) * len(items)
        for item, done, reachable in zip(items, folded, _reachable(ruleset, phase), strict=True):
            if not isinstance(item, CompiledRule) or not reachable:
                continue
            if done is not None:
                # never evaluated: its recorded outcome is replayed (its links read nothing;
                # a SecAction leaves the URI in MATCHED_VAR)
                reached[item.slot] = item
                if done.uri:
                    left.add("REQUEST_URI")
                continue
            # a chain's message and log data are its starter's; any of its links' actions may
            # read them (CRS 3 puts ``setvar:'tx.msg=%{rule.msg}'`` in the last link)
            own = any(
                marker in text.lower()
                for link in _links(item)
                for text in _texts(link)
                for marker in _OWN_TEXT
            )
            for link in _links(item):
                reached[link.slot] = link
                if _reads_previous_match(link):
                    previous_read = True
                texts = _texts(link)
                for text in texts + _log_texts(link) if own else texts:
                    for collection, key in macro_references(text):
                        read.add(collection)
                        keep(collection, key)
                if not own and any(macro_references(text) for text in _log_texts(link)):
                    logging.add(item.rule.id)
                guarded = (
                    {target.collection for _, target, _ in link.pieces if not target.count}
                    if link.guard
                    else set()
                )
                # a link that matches whatever the value (SecAction, @unconditionalMatch) reads
                # it only through MATCHED_VAR: its own actions', or a later rule's
                always = isinstance(link.operator, Always) and not link.rule.negated
                own_match = always and any("matched_var" in text.lower() for text in texts + _log_texts(link))
                for target in link.rule.targets:
                    if live_variable(target.collection):
                        continue
                    read.add(target.collection)
                    if target.exclude or target.count or link.unsupported is not None:
                        continue
                    if target.collection in guarded:
                        continue  # its pair is among the fast path's readers
                    key = literal_key(target)
                    if always and not own_match:
                        left.add(target.collection)
                    elif link.operator is None or not is_pure(link.operator):
                        keep(target.collection, key)
                    else:
                        links.setdefault(target.collection, []).append((link, key))
    if previous_read:
        for collection in left:
            read.add(collection)
            keep(collection, None)
    pairs: dict[str, list[tuple[int, int, Readers]]] = {}
    slots = frozenset(reached)
    for (collection, pair), readers in ruleset.readers.items():
        kept = Readers(readers.any_key & slots, {key: found & slots for key, found in readers.by_key.items()})
        if kept.any_key or any(kept.by_key.values()):
            pairs.setdefault(collection, []).append((pair >> 16, pair & 0xFFFF, kept))
    return MemoPlan(
        read=tuple(sorted(read)),
        exact={name: None if keys is None else frozenset(keys) for name, keys in exact.items()},
        pairs={name: tuple(sorted(found, key=lambda p: (p[0], p[1]))) for name, found in pairs.items()},
        links={name: tuple(found) for name, found in links.items()},
        guarded=reached,
        logging=frozenset(logging),
        answers={},
        long_answers={},
        long_pending=set(),
    )


def _quiet(tx: Transaction, plan: MemoPlan, name: str, key: str, value: str) -> bool:
    """Whether no rule reading ``value`` under lower-case ``key`` of collection ``name`` can
    match it (see the module docstring); kept across requests for a value met before."""
    met = tx.met_before(value) and len(key) <= _VALUE_CHARS
    answers = plan.answers
    if met:
        found = answers.get((name, key, value))
        if found is not None:
            return found
    if not met and len(value) > CACHE_VALUE_CHARS:
        return _quiet_long(tx, plan, name, key, value)
    quiet = _check(tx, plan, name, key, value, met=met)
    if met:
        if len(answers) >= _ANSWERS:
            answers.clear()
        answers[(name, key, value)] = quiet
    return quiet


def _quiet_long(tx: Transaction, plan: MemoPlan, name: str, key: str, value: str) -> bool:
    """:func:`_quiet` for a value longer than the executor's caches keep (a comment, a raw
    body): kept from the second request that has it, at most :data:`_LONG_ANSWERS`."""
    entry = (name, key, value)
    found = plan.long_answers.get(entry)
    if found is not None:
        return found
    quiet = _check(tx, plan, name, key, value, met=False)
    mark = hash(entry)
    if mark in plan.long_pending:
        if len(plan.long_answers) >= _LONG_ANSWERS:
            plan.long_answers.clear()
        plan.long_answers[entry] = quiet
    else:
        if len(plan.long_pending) >= 4 * _LONG_ANSWERS:
            plan.long_pending.clear()
        plan.long_pending.add(mark)
    return quiet


def _check(tx: Transaction, plan: MemoPlan, name: str, key: str, value: str, *, met: bool) -> bool:
    node = -1
    text = value
    for step, matcher, readers in plan.pairs.get(name, ()):
        slots = readers.of(key)
        if not slots:
            continue
        if step != node:
            node = step
            text = tx.through(node, value, met)
        hits = tx.matcher_hits(matcher, text, met)
        if hits and not hits.isdisjoint(slots):
            # the prefilter cannot rule these links out: their operators decide, as in the walk
            for slot in hits & slots:
                if _matches(tx, plan.guarded.get(slot), value):
                    return False
    for link, named in plan.links.get(name, ()):
        if (named is None or named == key) and _matches(tx, link, value):
            return False
    return True


def _matches(tx: Transaction, link: CompiledRule | None, value: str) -> bool:
    """Whether rule ``link`` may match ``value`` (through its transformations; an operator
    whose answer is not the value's alone may)."""
    if link is None or link.operator is None or not is_pure(link.operator):
        return True
    operator = link.operator
    negated = link.rule.negated
    return any((operator.evaluate(text) is None) == negated for text in tx.transformed(link, value))


# the rows of a bare key that hold blanks: (index in the key, collection, the row, its entries)
_Blanks = list[tuple[int, str, tuple[tuple[str, str | None], ...], list[tuple[str, str]]]]


def _bare(tx: Transaction, plan: MemoPlan, cut: bool, blanks: _Blanks) -> tuple[object, ...] | None:
    """``tx``'s request before phase 1 (its body left out) with every value that may be
    blanked blanked (what :func:`memo_key` gives when all of them are quiet), the rows holding
    blanks added to ``blanks``; None when the request is too large to keep."""
    if len(tx.body) > MEMO_BODY_BYTES:
        return None
    return _blanked(tx.vars, plan, [cut, bool(tx.body)], plan.read, blanks)


def _blanked(
    variables: Variables, plan: MemoPlan, parts: list[object], names: Sequence[str], blanks: _Blanks
) -> tuple[object, ...] | None:
    """``parts`` followed by the collections ``names`` of ``variables``, blanked (see
    :func:`_bare`)."""
    for name in names:
        entries = variables.get(name)
        if not entries:
            parts.append(())
            continue
        if len(entries) > _MANY:
            return None
        whole = plan.exact.get(name, _ALL)
        if whole is None:
            parts.append(tuple(entries))
            continue
        row: list[tuple[str, str | None]] = []
        blank = False
        for key, value in entries:
            if len(value) > _VALUE_CHARS or key.lower() in whole:
                row.append((key, value))
            else:
                row.append((key, None))
                blank = True
        kept = tuple(row)
        if blank:
            blanks.append((len(parts), name, kept, entries))
        parts.append(kept)
    return tuple(parts)


def _fill(
    tx: Transaction, plan: MemoPlan, bare: tuple[object, ...], blanks: _Blanks, *, give_up: bool
) -> tuple[object, ...] | None:
    """``bare`` with the values that are not quiet put back (``blanks``: its rows holding
    blanks). With ``give_up``: None at the first such value that no earlier request had (no
    key kept can hold it)."""
    parts: list[object] | None = None
    for index, name, row, entries in blanks:
        filled: list[tuple[str, str | None]] | None = None
        for n in range(len(row)):
            key, blank = row[n]
            if blank is not None:
                continue
            value = entries[n][1]
            if _quiet(tx, plan, name, key.lower(), value):
                continue
            if give_up and not tx.met_before(value):
                return None
            if filled is None:
                filled = list(row)
            filled[n] = (key, value)
        if filled is not None:
            if parts is None:
                parts = list(bare)
            parts[index] = tuple(filled)
    return bare if parts is None else tuple(parts)


def memo_key(
    tx: Transaction, plan: MemoPlan, cut: bool, processor: str | None = None
) -> tuple[object, ...] | None:
    """The key of ``tx``'s request: its variables before phase 1 with the quiet values
    blanked, and ``cut`` (whether the body was cut at the inspection limit); for a request
    with a body, also the variables its body gives under ``processor`` (the body processor
    phase 1 chooses for requests of this head, see :class:`VerdictMemo`; None: the body read
    as it is). None when the request is too large to keep."""
    blanks: _Blanks = []
    bare = _bare(tx, plan, cut, blanks)
    head = None if bare is None else _fill(tx, plan, bare, blanks, give_up=False)
    if head is None or not tx.body:
        return head
    return _with_body(tx, plan, head, processor, give_up=False)


def _with_body(
    tx: Transaction, plan: MemoPlan, head: tuple[object, ...], processor: str | None, *, give_up: bool
) -> tuple[object, ...] | None:
    """``head`` (a request's key before phase 1) followed by what its body gives: the
    collections the body processor ``processor`` changes, blanked, or the body as it is
    when phase 1 leaves it unread (``processor`` None)."""
    if processor is None:
        return (*head, tx.body)
    view = tx.body_view(processor)
    variables = tx.vars
    changed = [name for name in plan.read if view.get(name) != variables.get(name)]
    blanks: _Blanks = []
    bare = _blanked(view, plan, [head, processor, tuple(changed)], changed, blanks)
    return None if bare is None else _fill(tx, plan, bare, blanks, give_up=give_up)


class VerdictMemo:
    """Verdicts kept per request key (see the module docstring), for one rule set.

    A request's key is worked out only when its bare form (:func:`_bare`: every value that may
    be blanked, blanked) was met before, and given up at the first value that is not quiet
    and that no earlier request had: a request that cannot find a kept verdict pays for no
    more of its values' checks than it needs. A request with a body is keyed by what its body
    gives under the body processor that phase 1 chose for an earlier request of the same head
    (its key before phase 1, which decides phase 1's walk; ``heads``); a head not met before
    gets no key. Its verdict is also kept under its head and its body as it is, so a body met
    before is answered without being parsed. A verdict is kept from the second request with
    its key on (the first leaves only a hash); at most ``entries`` of them, the table emptied
    whole when full. Threads share it without a lock: every entry is written whole."""

    __slots__ = ("bares", "entries", "heads", "hits", "pending", "plan", "table")

    def __init__(self, plan: MemoPlan, entries: int) -> None:
        self.plan = plan
        self.entries = entries
        self.table: dict[tuple[object, ...], tuple[object, ...]] = {}
        self.pending: set[int] = set()  # hashes of keys met once
        self.bares: set[int] = set()  # hashes of bare forms met
        # head -> the body processor phase 1 chose (None: it left the body unread)
        self.heads: dict[tuple[object, ...], str | None] = {}
        self.hits = 0

    def key(self, tx: Transaction, cut: bool) -> tuple[tuple[object, ...] | None, tuple[object, ...] | None]:
        """The head of ``tx``'s request and the key to look it up by and keep its verdict
        under (each None when there is none)."""
        blanks: _Blanks = []
        bare = _bare(tx, self.plan, cut, blanks)
        if bare is None:
            return None, None
        mark = hash(bare)
        if mark not in self.bares:
            if len(self.bares) >= 4 * self.entries:
                self.bares.clear()
            self.bares.add(mark)
            return None, None
        head = _fill(tx, self.plan, bare, blanks, give_up=True)
        if head is None or not tx.body:
            return head, head
        if head not in self.heads:
            return head, None
        raw = (*head, tx.body)  # a body met before as it is: no parse, no check
        if raw in self.table:
            return head, raw
        return head, _with_body(tx, self.plan, head, self.heads[head], give_up=True)

    def get(self, key: tuple[object, ...]) -> tuple[object, ...] | None:
        """The verdict kept for ``key`` (counted in ``hits``), or None."""
        found = self.table.get(key)
        if found is not None:
            self.hits += 1
        return found

    def keep(
        self,
        head: tuple[object, ...] | None,
        key: tuple[object, ...] | None,
        tx: Transaction,
        verdict: tuple[object, ...],
    ) -> None:
        """Note what ``tx``'s finished walk tells: the body processor its phase 1 chose, for
        ``head``, and ``verdict``, for ``key`` (see :func:`keeps`)."""
        if tx.removed_folded():
            return
        if head is not None and tx.body and head not in self.heads:
            if len(self.heads) >= self.entries:
                self.heads.clear()
            self.heads[head] = tx.body_processor if tx.body_access else None
        if not keeps(tx, self.plan):
            return
        if key is not None:
            self._put(key, verdict)
        if head is not None and tx.body:
            raw = (*head, tx.body)
            if raw != key:
                self._put(raw, verdict)

    def _put(self, key: tuple[object, ...], verdict: tuple[object, ...]) -> None:
        mark = hash(key)
        if mark not in self.pending:
            if len(self.pending) >= 4 * self.entries:
                self.pending.clear()
            self.pending.add(mark)
            return
        if len(self.table) >= self.entries:
            self.table.clear()
        self.table[key] = verdict


def keeps(tx: Transaction, plan: MemoPlan) -> bool:
    """Whether the verdict of ``tx``'s finished walk may be kept for its key: not when a
    ``ctl`` removed a folded rule (see the module docstring), nor when a rule whose message or
    log data reads the request logged (that text may hold a blanked value)."""
    if tx.removed_folded():
        return False
    logging = plan.logging
    return not logging or not any(entry.rule_id in logging for entry in tx.logged)
