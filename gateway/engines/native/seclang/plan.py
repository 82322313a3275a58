"""Fold the rules whose outcome is the same for every request, once per rule set.

OWASP CRS walks about 250 rules per request at paranoia 1, and half of them only read the
transaction's own ``TX`` values that request-independent rules set: the setup and 901's
defaults (``SecRule &TX:paranoia_level "@eq 0" "setvar:tx.paranoia_level=1"``), the
paranoia-level checks before every block of rules (``SecRule TX:EXECUTING_PARANOIA_LEVEL "@lt
2" "skipAfter:END-..."``) and the disabled application exclusions. :func:`fold` finds them by
abstract interpretation over each phase's rule list, in order: it tracks which ``TX`` keys have
a value every request shares (or are absent in every request), and a rule that reads only such
keys, through targets ``TX:key`` / ``&TX:key``, macros and ``setvar`` increments, is evaluated
right then, by the executor's own code on a sandbox transaction. A chain whose first link
reads only such keys and never matches folds too, whatever its later links read (they never
run). The executor then replays its
recorded effect (the ``TX`` writes in order, ``MATCHED_VAR``) and takes its recorded jump
instead of evaluating it.

What makes a key unknown: any rule not folded that may write it (``setvar``, ``capture``; a
``setvar`` whose key is a macro makes every key unknown), and where control flow merges (a
jump over a rule and the fall-through), a key the two ways leave different. A rule is never
folded if a ``ctl`` of a reachable rule may remove it or change its targets, if it reads
anything but ``TX`` and its own match (``MATCHED_VAR`` of an earlier rule, request data: a
``SecAction``'s ``REQUEST_URI`` is its only request data, replayed per request), if it writes
``ENV`` or persistent collections, or if it matches and then logs, runs a ``ctl`` or ``allow``\
s. Jumps only go forward, so one pass in rule order sees every way into a rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rampart.gateway.engines.native.seclang.executor import (
    CompiledRule,
    CompiledRuleset,
    Folded,
    Transaction,
    compile_ruleset,
)
from rampart.gateway.engines.native.seclang.loader import Ruleset, parse_id_ranges
from rampart.gateway.engines.native.seclang.rules import Marker, Rule, Target
from rampart.gateway.model import RawRequest

__all__ = ["compile_plan", "fold"]

Entry = tuple[str, str]


# operators that only look at their value (no files read per request, no network, no state)
_PURE = frozenset(
    {"eq", "ge", "gt", "le", "lt", "streq", "strmatch", "rx", "pm", "within", "beginswith", "endswith"}
    | {"contains", "containsword", "unconditionalmatch", "nomatch"}
)
_SECACTION = (Target("REQUEST_URI"),)
_RULE_ID = re.compile(r"%\{rule\.id\}", re.IGNORECASE)  # the one macro CRS puts in setvar keys
_MATCH_VARIABLES = frozenset({"MATCHED_VAR", "MATCHED_VAR_NAME", "MATCHED_VARS", "MATCHED_VARS_NAMES"})


class _Unknown(Exception):
    """The sandbox read something that differs between requests."""


class _Unk:
    def __repr__(self) -> str:
        return "UNKNOWN"


_UNK = _Unk()
Value = Entry | None | _Unk  # a key's value in every request: the entry, absent (None), or unknown


@dataclass(slots=True)
class _State:
    """What every request that gets here has in ``TX``: the listed keys; any other key is
    unknown if it starts with one of ``prefixes`` (what a ``setvar`` whose key holds a macro
    may write: the text before the macro), absent otherwise."""

    values: dict[str, Value]
    prefixes: frozenset[str] = frozenset()

    def get(self, key: str) -> Value:
        found = self.values.get(key, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        return _UNK if any(key.startswith(p) for p in self.prefixes) else None

    def join(self, other: _State) -> _State:
        out = _State({}, self.prefixes | other.prefixes)
        for key in self.values.keys() | other.values.keys():
            mine, theirs = self.get(key), other.get(key)
            out.values[key] = mine if mine == theirs and mine is not _UNK else _UNK
        return out

    def copy(self) -> _State:
        return _State(dict(self.values), self.prefixes)

    def forget(self, prefix: str) -> None:
        """Every key starting with ``prefix`` may have been written."""
        self.prefixes |= {prefix}
        for key in self.values:
            if key.startswith(prefix):
                self.values[key] = _UNK


_MISSING = object()


class _SandboxTx(dict[str, Entry]):
    """``TX`` for the sandbox: reading a key whose value differs between requests raises;
    writes are recorded."""

    def __init__(self, state: _State) -> None:
        super().__init__({k: v for k, v in state.values.items() if isinstance(v, tuple)})
        self.state = state
        self.writes: list[tuple[str, Entry | None]] = []

    def get(self, key: str, default: Any = None) -> Any:
        value = self.state.get(key)
        if value is _UNK:
            raise _Unknown(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Entry:
        self.get(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.get(key)
        return super().__contains__(key)

    def __setitem__(self, key: str, value: Entry) -> None:
        self.writes.append((key, value))
        super().__setitem__(key, value)

    def pop(self, key: str, default: Any = None) -> Any:
        self.writes.append((key, None))
        return super().pop(key, default)

    def values(self) -> Any:
        raise _Unknown("TX")

    def items(self) -> Any:
        raise _Unknown("TX")

    def __iter__(self) -> Iterator[str]:
        raise _Unknown("TX")


_PLACEHOLDER = [("REQUEST_URI", ["/"])]


class _Sandbox(Transaction):
    """A transaction that knows only ``TX``, the rule and the rule's own match (unless the
    match is a ``SecAction``'s ``REQUEST_URI``, whose value is a placeholder here)."""

    def __init__(self, ruleset: CompiledRuleset, state: _State, secaction: bool) -> None:
        super().__init__(ruleset, _REQUEST, b"", "fold")
        self.tx = self.sandbox_tx = _SandboxTx(state)
        self.secaction = secaction

    def collection(self, name: str) -> list[tuple[str, str]]:
        if name in _MATCH_VARIABLES and self.matched_var[0] and not self.secaction:
            return super().collection(name)
        if name == "RULE":
            return super().collection(name)
        raise _Unknown(name)

    def _prepared(self, compiled: CompiledRule, guarded: bool) -> list[tuple[str, list[str]]]:
        if self.secaction:
            return _PLACEHOLDER
        return super()._prepared(compiled, guarded)


_REQUEST = RawRequest("GET", "/", ())


def _link_known(link: Rule) -> bool:
    """Whether this link (not its chain) reads only ``TX:literal-key`` or ``&TX:literal-key``."""
    return all(
        not target.exclude
        and target.collection == "TX"
        and target.key is not None
        and "%{" not in target.key
        and target.key_regex is None
        for target in link.targets
    )


def _targets_known(rule: Rule) -> bool:
    """Whether every link reads only ``TX:literal-key`` or ``&TX:literal-key``."""
    return all(_link_known(link) for link in rule.links())


def _secaction(rule: Rule) -> bool:
    return (
        rule.chain is None
        and rule.operator == "unconditionalmatch"
        and not rule.negated
        and not rule.multi_match
        and rule.targets == _SECACTION
    )


def _writes_only_tx(rule: Rule) -> bool:
    return all(
        not link.setenvs and all(sv.collection == "TX" for sv in link.setvars) for link in rule.links()
    )


@dataclass(slots=True)
class _Removals:
    """What the ``ctl``s of the rules that may have run so far may remove, or retarget."""

    ids: list[tuple[int, int]] = field(default_factory=list)
    tags: list[re.Pattern[str]] = field(default_factory=list)
    target_ids: list[tuple[int, int]] = field(default_factory=list)
    target_tags: list[re.Pattern[str]] = field(default_factory=list)
    everything: bool = False

    def removes(self, rule: Rule) -> bool:
        return self.everything or _covers(self.ids, self.tags, rule)

    def retargets(self, rule: Rule) -> bool:
        return self.everything or _covers(self.target_ids, self.target_tags, rule)

    def add(self, rule: Rule) -> None:
        for link in rule.links():
            for c in link.ctls:
                if not c.name.startswith("ruleremove"):
                    continue
                if "%{" in c.value:
                    self.everything = True
                    continue
                selector = c.value.partition(";")[0]
                try:
                    if c.name == "ruleremovebyid":
                        self.ids.extend(parse_id_ranges(selector))
                    elif c.name == "ruleremovebytag":
                        self.tags.append(re.compile(selector))
                    elif c.name == "ruleremovetargetbyid":
                        self.target_ids.extend(parse_id_ranges(selector))
                    elif c.name == "ruleremovetargetbytag":
                        self.target_tags.append(re.compile(selector))
                except (ValueError, re.error):
                    continue  # the executor ignores it too


def _covers(ids: list[tuple[int, int]], tags: list[re.Pattern[str]], rule: Rule) -> bool:
    if any(low <= rule.id <= high for low, high in ids):
        return True
    return any(p.search(t) for p in tags for t in rule.tags)


def _next_index(rule: Rule, index: int, items: tuple[Any, ...], markers: Mapping[str, int]) -> int:
    """Where the phase continues after ``rule`` (at ``index``) matched: as ``run_phase``."""
    i = index + 1
    if rule.skip_after is not None:
        return markers.get(rule.skip_after, len(items) - 1) + 1
    if rule.skip:
        skipped = 0
        while i < len(items) and skipped < rule.skip:
            if not isinstance(items[i], Marker):
                skipped += 1
            i += 1
    return i


def _unknown_after(rule: Rule, state: _State) -> _State:
    """The state after a rule that is not folded: every key it may write is unknown."""
    out = state.copy()
    for link in rule.links():
        if link.capture:
            for n in range(10):
                out.values[str(n)] = _UNK
        for sv in link.setvars:
            if sv.collection != "TX":
                continue
            name = _RULE_ID.sub(str(rule.id), sv.name).lower()
            if "%{" in name:
                out.forget(name.partition("%{")[0])
            else:
                out.values[name] = _UNK
    return out


def fold(ruleset: CompiledRuleset) -> dict[int, tuple[Folded | None, ...]]:
    """Per phase, per item: the item's outcome for every request, or ``None`` (evaluate it)."""
    folded: dict[int, tuple[Folded | None, ...]] = {}
    removals = _Removals()  # a ctl only acts on the rules after its own
    state: _State | None = _State({})
    for phase in sorted(ruleset.phases):
        items = ruleset.phases[phase]
        markers = ruleset.markers.get(phase, {})
        incoming: dict[int, _State] = {}
        out: list[Folded | None] = []

        def reach(target: int, st: _State, incoming: dict[int, _State] = incoming) -> None:
            seen = incoming.get(target)
            incoming[target] = st if seen is None else seen.join(st)

        for index, item in enumerate(items):
            arriving = incoming.pop(index, None)
            if state is None:
                state = arriving
            elif arriving is not None:
                state = state.join(arriving)
            if state is None or not isinstance(item, CompiledRule):
                out.append(None)
                continue
            rule = item.rule
            result = _fold_one(
                ruleset, item, index=index, items=items, markers=markers, state=state, removals=removals
            )
            removals.add(rule)
            if result is None:
                out.append(None)
                after = _unknown_after(rule, state)
                if rule.skip_after is not None or rule.skip:
                    reach(_next_index(rule, index, items, markers), after)
                state = after
                continue
            found, after = result
            out.append(found)
            if found.removable:  # removed by a ctl: not evaluated, no effect
                reach(index + 1, state)
            if found.next != index + 1:
                reach(found.next, after)
                state = None
            else:
                state = after
        for target in sorted(incoming):  # jumps past the end
            state = incoming[target] if state is None else state.join(incoming[target])
        folded[phase] = tuple(_merge_runs(out))
    return folded


def _merge_runs(out: list[Folded | None]) -> list[Folded | None]:
    """Each folded rule's outcome followed by those of the folded rules it always leads to (the
    rule at its ``next`` index, and so on), as one replay: their ``TX`` writes in order, the
    last ``MATCHED_VAR`` and the last jump. A run stops before a rule a ``ctl`` may remove or
    one whose ``MATCHED_VAR`` is the request's URI; the rule starting it keeps its own
    ``removable`` (checked before its replay)."""
    merged = list(out)
    for index in range(len(merged) - 1, -1, -1):  # jumps go forward: the rest is merged already
        done = merged[index]
        if done is None or done.uri or done.next >= len(merged):
            continue
        after = merged[done.next]
        if after is None or after.removable or after.uri:
            continue
        matched_var = after.matched_var if after.matched_var is not None else done.matched_var
        merged[index] = Folded(done.writes + after.writes, matched_var, False, after.next, done.removable)
    return merged


def _fold_one(
    ruleset: CompiledRuleset,
    compiled: CompiledRule,
    *,
    index: int,
    items: tuple[Any, ...],
    markers: Mapping[str, int],
    state: _State,
    removals: _Removals,
) -> tuple[Folded, _State] | None:
    rule = compiled.rule
    uri = _secaction(rule)
    # a chain whose later links read the request folds too when its first link, which reads
    # only known TX keys, never matches: the rest never runs (920380's "&TX:MAX_NUM_ARGS @eq 1")
    first_only = not uri and not _targets_known(rule) and compiled.chain is not None and _link_known(rule)
    if not (uri or first_only or _targets_known(rule)):
        return None
    if removals.retargets(rule) or not _writes_only_tx(rule):
        return None
    link: CompiledRule | None = compiled
    while link is not None:
        if link.rule.operator not in _PURE:
            return None
        link = None if first_only else link.chain
    sandbox = _Sandbox(ruleset, state, uri)
    sandbox.rule = rule
    try:
        # first_only: the first link alone (the sandbox's placeholder request must not answer
        # for the request data the chain reads)
        matched = sandbox._evaluate(replace(compiled, chain=None) if first_only else compiled, rule)
    except Exception:  # _Unknown, or anything the sandbox cannot answer: evaluate it per request
        return None
    if first_only and matched:
        return None
    if matched and (rule.log or rule.disruptive == "allow" or any(link.ctls for link in rule.links())):
        return None
    tx = sandbox.sandbox_tx
    after = state.copy()
    for key, entry in tx.writes:
        after.values[key] = entry
    matched_var = sandbox.matched_var if sandbox.matched_var[0] and not uri else None
    next_index = _next_index(rule, index, items, markers) if matched else index + 1
    folded = Folded(tuple(tx.writes), matched_var, uri and matched, next_index, removals.removes(rule))
    return folded, after


def compile_plan(ruleset: Ruleset, *, strict: bool = False, fast: bool = True) -> CompiledRuleset:
    """:func:`~rampart.gateway.engines.native.seclang.executor.compile_ruleset`, then (with
    ``fast``) the folded rules: what the engine runs."""
    compiled = compile_ruleset(ruleset, strict=strict, fast=fast)
    return replace(compiled, folded=fold(compiled)) if fast else compiled
