"""Run a :class:`~gateway.engines.native.seclang.loader.Ruleset` over one request, phases 1 and 2, with
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

A :class:`CompiledRuleset` is immutable once built and shared by all threads; each request
gets its own :class:`Transaction`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from gateway.engines.native.seclang import operators as ops
from gateway.engines.native.seclang import transforms as tfs
from gateway.engines.native.seclang.bodies import BodyResult, parse_body
from gateway.engines.native.seclang.loader import Ruleset, parse_id_ranges
from gateway.engines.native.seclang.parse import parse_targets
from gateway.engines.native.seclang.prefilter import Guard, Prefilters, build_prefilters
from gateway.engines.native.seclang.rules import Marker, Rule, Target
from gateway.engines.native.seclang.variables import Variables, body_variables, request_variables
from gateway.model import RawRequest

__all__ = ["CompiledRule", "CompiledRuleset", "LogEntry", "Transaction", "compile_ruleset"]

log = logging.getLogger(__name__)

_MACRO = re.compile(r"%\{([^}]*)\}")
# variables computed when read, never indexed
_LIVE = frozenset(
    {"TX", "ENV", "IP", "GLOBAL", "SESSION", "USER", "RESOURCE", "RULE", "MATCHED_VAR", "MATCHED_VARS"}
    | {"MATCHED_VAR_NAME", "MATCHED_VARS_NAMES", "REQBODY_PROCESSOR"}
)
_MAX_CAPTURES = 10


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
class CompiledRuleset:
    """Compiled rules per phase plus where each marker sits."""

    phases: dict[int, tuple[CompiledRule | Marker, ...]]
    markers: dict[int, dict[str, int]]
    rule_engine: str
    unsupported: tuple[str, ...]
    prefilters: Prefilters | None = None


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


def _compile_rule(rule: Rule, unsupported: list[str], strict: bool) -> CompiledRule:
    context = ops.OperatorContext(base_dir=rule.file.parent)
    transforms: list[tfs.Transformation] = []
    missing: str | None = None
    for name in rule.transforms:
        try:
            transforms.append(tfs.get(name))
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
    share_key: int | None = None
    if not live and not rule.multi_match:
        shape = (rule.targets, tuple(n.lower() for n in rule.transforms))
        share_key = _SHARE_IDS.setdefault(shape, len(_SHARE_IDS))
    chain = _compile_rule(rule.chain, unsupported, strict) if rule.chain is not None else None
    return CompiledRule(
        rule,
        operator,
        tuple(transforms),
        tuple(n.lower() for n in rule.transforms),
        _compile_targets(rule),
        exclusions([t for t in rule.targets if t.exclude]),
        chain,
        context,
        missing,
        share_key=share_key,
    )


def _guards(phases: dict[int, tuple[CompiledRule | Marker, ...]]) -> list[Guard]:
    """Give every compiled rule (chain links too) a slot; list what the fast path may check for
    those it can guard: an ``@rx`` operator's own RE2 pattern, or another operator's
    ``prefilter`` patterns (an ``@rx`` prefilter is regex-derived Hyperscan, not trusted)."""
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
                if (
                    operator is not None
                    and link.unsupported is None
                    and not rule.negated
                    and not rule.multi_match
                ):
                    if rule.operator == "rx":
                        compiled = getattr(operator, "_re2", None)
                        if compiled is not None:
                            out.append(
                                Guard(link.slot, link.transform_key, compiled.pattern, compiled.options)
                            )
                    elif operator.prefilter:
                        out.append(Guard(link.slot, link.transform_key, patterns=tuple(operator.prefilter)))
                link = link.chain
    return out


def compile_ruleset(ruleset: Ruleset, *, strict: bool = False, fast: bool = True) -> CompiledRuleset:
    """Resolve every operator and transformation. Unknown operators and transformations are
    listed in ``unsupported`` and their rules never match; so are operator arguments the
    operator rejects, unless ``strict``, where they raise ``ValueError`` naming file and line.
    ``fast`` builds the Hyperscan prefilters (:mod:`gateway.engines.native.seclang.prefilter`)."""
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
    return CompiledRuleset(phases, markers, ruleset.rule_engine, tuple(unsupported), prefilters)


_PATTERNS: dict[str, re.Pattern[str] | None] = {}
# (targets, transformations) -> a small number: rules with equal ones share prepared values
_SHARE_IDS: dict[tuple[tuple[Target, ...], tuple[str, ...]], int] = {}


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


def _default_processor(content_type: str) -> str:
    """The processor libmodsecurity picks from the Content-Type when the headers arrive."""
    lowered = content_type.lower()
    if lowered.startswith("application/x-www-form-urlencoded"):
        return "URLENCODED"
    if lowered.startswith("multipart/form-data"):
        return "MULTIPART"
    return ""


class Transaction:
    """One request's state while the rules run (never shared between threads)."""

    def __init__(self, ruleset: CompiledRuleset, request: RawRequest, body: bytes, unique_id: str) -> None:
        self.ruleset = ruleset
        self.request = request
        self.body = body.decode("latin-1")
        self.vars: Variables = request_variables(request, unique_id)
        self.tx: dict[str, tuple[str, str]] = {}
        self.env: dict[str, tuple[str, str]] = {}
        self.persistent: dict[str, dict[str, tuple[str, str]]] = {}
        self.removed_ids: list[tuple[int, int]] = []
        self.removed_tags: list[re.Pattern[str]] = []
        self.removed_targets: dict[int, list[Target]] = {}
        self.removed_targets_by_tag: list[tuple[re.Pattern[str], Target]] = []
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
        self._transformed: dict[tuple[tuple[str, ...], str], str] = {}
        self._index: dict[str, dict[str, list[tuple[str, str]]]] = {}
        self._scanned: dict[tuple[tuple[str, ...], str], frozenset[int]] = {}
        self._shared: dict[int, tuple[list[tuple[str, list[str]]], frozenset[int] | None]] = {}

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
        return _MACRO.sub(self._macro, text)

    def _macro(self, found: re.Match[str]) -> str:
        name = found.group(1)
        collection, dot, key = name.partition(".")
        entries = self.collection(collection.upper())
        if not dot:
            return entries[0][1] if entries else ""
        lkey = key.lower()
        return next((v for k, v in entries if k.lower() == lkey), "")

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
            return [(k, v) for k, v in self.collection(name) if pattern.search(k)]
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
    def _store(self, collection: str) -> dict[str, tuple[str, str]]:
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
                elif c.name == "ruleremovebytag":
                    self.removed_tags.append(re.compile(value))
                elif c.name == "ruleremovetargetbyid":
                    ids, _, targets = value.partition(";")
                    for low, high in parse_id_ranges(ids):
                        for rid in range(low, min(high, low + 100_000) + 1):
                            self.removed_targets.setdefault(rid, []).extend(parse_targets(targets))
                elif c.name == "ruleremovetargetbytag":
                    tag, _, targets = value.partition(";")
                    pattern = re.compile(tag)
                    self.removed_targets_by_tag.extend((pattern, t) for t in parse_targets(targets))
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
    def _transform(self, compiled: CompiledRule, value: str) -> list[str]:
        if not compiled.transforms:
            return [value]
        if compiled.rule.multi_match:
            out = [value]
            for fn in compiled.transforms:
                value = fn(value)
                if value != out[-1]:
                    out.append(value)
            return out
        key = (compiled.transform_key, value)
        cached = self._transformed.get(key)
        if cached is None:
            cached = value
            for fn in compiled.transforms:
                cached = fn(cached)
            self._transformed[key] = cached
        return [cached]

    def _evaluate(self, compiled: CompiledRule, starter: Rule) -> bool:
        rule = compiled.rule
        if compiled.unsupported is not None:
            return False
        operator = compiled.operator
        if operator is None:
            operator = compiled.operator_for(self.expand(rule.operator_arg))
            if operator is None:
                return False
        matched = False
        prefilters = self.ruleset.prefilters
        guarded = prefilters is not None and compiled.slot in prefilters.guarded
        for label, values in self._prepared(compiled, guarded):
            for value in values:
                if guarded and compiled.slot not in self._candidates(compiled.transform_key, value):
                    continue
                hit = operator.evaluate(value)
                if rule.negated:
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
            return False
        if compiled.chain is not None:
            return self._evaluate(compiled.chain, starter)
        return True

    def _prepared(self, compiled: CompiledRule, guarded: bool) -> list[tuple[str, list[str]]]:
        """The rule's values, transformed. Rules with the same variables and transformations
        share one list per phase (unless a ``ctl`` changed this rule's targets or a variable is
        live); a guarded rule none of whose patterns occurs in any of them gets ``[]``."""
        rule = compiled.rule
        key = compiled.share_key
        shareable = (
            key is not None and rule.id not in self.removed_targets and not self.removed_targets_by_tag
        )
        if not shareable:
            return [(label, self._transform(compiled, raw)) for label, raw in self.resolve(compiled)]
        assert key is not None
        entry = self._shared.get(key)
        if entry is None:
            prepared = [(label, self._transform(compiled, raw)) for label, raw in self.resolve(compiled)]
            entry = self._shared[key] = (prepared, None)
        prepared, union = entry
        if not guarded:
            return prepared
        if union is None:
            found: set[int] = set()
            for _, values in prepared:
                for value in values:
                    found |= self._candidates(compiled.transform_key, value)
            union = frozenset(found)
            self._shared[key] = (prepared, union)
        return prepared if compiled.slot in union else []

    def _candidates(self, chain: tuple[str, ...], value: str) -> frozenset[int]:
        key = (chain, value)
        found = self._scanned.get(key)
        if found is None:
            assert self.ruleset.prefilters is not None
            found = self._scanned[key] = self.ruleset.prefilters.candidates(chain, value)
        return found

    def _removed(self, rule: Rule) -> bool:
        if any(low <= rule.id <= high for low, high in self.removed_ids):
            return True
        return bool(self.removed_tags) and any(p.search(t) for p in self.removed_tags for t in rule.tags)

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
        i = 0
        while i < len(items) and self.engine_on and not self.allowed:
            item = items[i]
            i += 1
            if isinstance(item, Marker):
                continue
            rule = item.rule
            if self._removed(rule):
                continue
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
        if self.body:
            result = parse_body(processor, self.body, self.content_type)
        elif processor == "XML":  # libxml2 refuses an empty document; the other processors skip it
            result = BodyResult(error="XML parsing error: XML: Failed to parse document.")
        else:
            result = BodyResult()
        body_variables(self.vars, self.body, result)
        self._index.clear()
        self._shared.clear()

    def run(self) -> None:
        """Phase 1, the body processor, phase 2."""
        self.run_phase(1)
        self.process_body()
        self.run_phase(2)


def run_request(ruleset: CompiledRuleset, request: RawRequest, body: bytes, unique_id: str) -> Transaction:
    """A finished transaction for ``request``."""
    tx = Transaction(ruleset, request, body, unique_id)
    tx.run()
    return tx
