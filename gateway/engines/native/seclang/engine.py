"""The ``seclang`` engine: OWASP CRS, unchanged, on rampart's own SecLang executor.

It loads exactly what the ``crs`` engine loads (:mod:`rampart.gateway.engines.crs.config`: engine
directives, the setup file, paranoia/threshold tuning, the before-CRS exclusions, the
``REQUEST-*.conf`` rule files, the score reporter) and scores a request the same way: the
score is CRS's own inbound total (``tx.anomaly_score``, CRS 4
``tx.blocking_inbound_anomaly_score``) after phase 2, and the decision compares it with the
threshold. Verdicts have the ``crs`` engine's shape (matches are the fired, logging,
non-bookkeeping rules, mapped by :func:`rampart.gateway.engines.crs.mapping.to_rule_match`).

With the fast path, a verdict is kept per *shape* of request (:mod:`.memo`: the request's
variables with the values no rule can match blanked): a request of a shape met before gets
its verdict without the rules being walked. A shape is kept from the second request that has
it on (a shape met once keeps only its hash), at most :data:`MEMO_ENTRIES` of them.

``inspect`` never raises (fail open, ``error`` set). The compiled rules are immutable and
every request gets its own transaction, so the engine is thread-safe (the kept verdicts are
shared; each entry is written whole).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from rampart.gateway.engines.crs.config import (
    BODY_ERROR_RULE_ID,
    BODY_ERROR_SCORE,
    LOCAL_RULE_IDS,
    REPORT_RULE_ID,
    CrsLayout,
    engine_directives,
    report_directives,
    resolve_layout,
    tuning_directives,
)
from rampart.gateway.engines.crs.mapping import failed_open, is_bookkeeping, to_rule_match
from rampart.gateway.engines.native.budget import Deadline, OverBudget, budget_match
from rampart.gateway.engines.native.seclang.executor import (
    CompiledRuleset,
    LogEntry,
    Transaction,
)
from rampart.gateway.engines.native.seclang.loader import Loader, Ruleset
from rampart.gateway.engines.native.seclang.memo import VerdictMemo, build_plan
from rampart.gateway.engines.native.seclang.plan import compile_plan
from rampart.gateway.model import EngineSettings, RawRequest, RuleMatch, Verdict

__all__ = ["MEMO_ENTRIES", "SecLangEngine", "load_crs"]

log = logging.getLogger(__name__)

MEMO_ENTRIES = 2048
"""Verdicts kept per request shape before the table is emptied whole."""


@dataclass(frozen=True, slots=True)
class _Message:
    """A log entry in the shape :func:`rampart.gateway.engines.crs.mapping.to_rule_match` reads."""

    rule_id: int
    severity: int
    message: str
    match: str
    data: str
    tags: list[str]


def load_crs(settings: EngineSettings) -> tuple[CrsLayout, Ruleset]:
    """Load the files the ``crs`` engine loads for ``settings``, in the same order."""
    layout = resolve_layout(settings)
    loader = Loader()
    loader.load_text(engine_directives(settings), "rampart engine directives")
    loader.load_file(layout.setup)
    loader.load_text(tuning_directives(settings), "rampart tuning (paranoia, threshold)")
    for path in layout.before_rules():
        loader.load_file(path)
    for path in layout.rule_files:
        loader.load_file(path)
    loader.load_text(report_directives(), "rampart score reporter")
    return layout, loader.finish()


def _total(tx: Transaction) -> int | None:
    values: list[int] = []
    for key in ("anomaly_score", "blocking_inbound_anomaly_score"):
        entry = tx.tx.get(key)
        if entry is not None and entry[1].strip().lstrip("-").isdigit():
            values.append(int(entry[1]))
    return max(values) if values else None


def _to_match(entry: LogEntry) -> RuleMatch:
    data = entry.logdata
    if not data and entry.target:
        data = f"Matched Data: {entry.matched} found within {entry.target}: {entry.matched}"
    return to_rule_match(
        _Message(
            entry.rule_id,
            5 if entry.severity is None else entry.severity,
            entry.msg,
            "",
            data,
            list(entry.tags),
        )
    )


class SecLangEngine:
    """OWASP CRS on the native SecLang executor, behind the shared engine interface."""

    name = "seclang"
    slow = False
    thread_safe = True

    def __init__(self, settings: EngineSettings, *, fast: bool = True) -> None:
        """Load and compile CRS for ``settings``; raises a ``ValueError`` subclass naming the
        file and line at fault. ``fast=False`` leaves out the fast path
        (:mod:`rampart.gateway.engines.native.seclang.prefilter`) and the folding of rules whose
        outcome is the same for every request (:mod:`rampart.gateway.engines.native.seclang.plan`):
        every rule is evaluated on every value, the reference both are checked against."""
        self.settings = settings
        self.layout, ruleset = load_crs(settings)
        self.ruleset: CompiledRuleset = compile_plan(ruleset, fast=fast)
        self.rule_count = len(ruleset.rules())
        self.unsupported = self.ruleset.unsupported
        for entry in self.unsupported[:20]:
            log.info("seclang: unsupported, never matches: %s", entry)
        self._ids = itertools.count(1)
        self._closed = False
        plan = build_plan(self.ruleset) if fast else None
        self.memo: VerdictMemo | None = VerdictMemo(plan, MEMO_ENTRIES) if plan is not None else None

    def _body(self, request: RawRequest) -> tuple[bytes, bool]:
        body = request.body[: self.settings.body_limit]
        return body, request.body_truncated or len(body) < len(request.body)

    def _begin(self, request: RawRequest, check: Callable[[], None] | None) -> tuple[Transaction, bool]:
        """A transaction for ``request``, not run yet, and whether its body was cut at the
        inspection limit."""
        body, cut = self._body(request)
        unique_id = request.request_id or f"seclang-{next(self._ids)}"
        return Transaction(self.ruleset, request, body, unique_id, check), cut

    def transaction(self, request: RawRequest, check: Callable[[], None] | None = None) -> Transaction:
        """Run the rules over ``request`` and return the finished transaction (errors propagate;
        ``check``, the request's budget, may raise :class:`OverBudget` between rules)."""
        tx, _ = self._begin(request, check)
        tx.run()
        return tx

    def fired_rule_ids(self, request: RawRequest) -> frozenset[int]:
        """Every rule that logged for ``request`` (CRS bookkeeping included, rampart's local
        rules not), as the ``crs`` engine reports them."""
        return frozenset(
            e.rule_id for e in self.transaction(request).logged if e.rule_id not in LOCAL_RULE_IDS
        )

    def inspect(self, request: RawRequest, *, budget_ms: float | None = None) -> Verdict:
        """Score ``request`` with CRS; never raises (fails open with ``error`` set). The
        inspection stops once it has spent ``budget_ms`` of CPU (default: the settings'
        ``budget_ms``; 0: no budget), with the ``over_budget`` outcome, as the YAML rules do."""
        start = time.perf_counter()
        deadline = Deadline(self.settings.budget_ms if budget_ms is None else budget_ms)
        try:
            if self._closed:
                raise RuntimeError("engine is closed")
            tx, cut = self._begin(request, deadline.check)
            memo = self.memo
            head, shape = memo.key(tx, cut) if memo is not None else (None, None)
            if shape is not None and memo is not None:
                kept = memo.get(shape)
                if kept is not None:
                    tx.note_met()
                    return Verdict(
                        engine=self.name,
                        score=cast(int, kept[1]),
                        threshold=self.settings.threshold,
                        matches=cast(tuple[RuleMatch, ...], kept[0]),
                        elapsed_us=(time.perf_counter() - start) * 1e6,
                    )
            try:
                tx.run()
            except OverBudget:
                over = budget_match(self.settings, deadline.spent())
                return Verdict(
                    engine=self.name,
                    score=over.score,
                    threshold=self.settings.threshold,
                    matches=(over,),
                    elapsed_us=(time.perf_counter() - start) * 1e6,
                    budget_exceeded=True,
                )
            matches: list[RuleMatch] = []
            discount = 0
            for entry in tx.logged:
                if entry.rule_id == REPORT_RULE_ID:
                    continue
                if cut and entry.rule_id == BODY_ERROR_RULE_ID:
                    discount += BODY_ERROR_SCORE
                elif not is_bookkeeping(entry.rule_id):
                    matches.append(_to_match(entry))
            total = _total(tx)
            score = (total if total is not None else sum(m.score for m in matches)) - discount
            found = tuple(matches)
            if head is not None and memo is not None:
                memo.keep(head, shape, tx, (found, score))
            return Verdict(
                engine=self.name,
                score=score,
                threshold=self.settings.threshold,
                matches=found,
                elapsed_us=(time.perf_counter() - start) * 1e6,
            )
        except Exception as exc:
            return failed_open(self.name, self.settings.threshold, request, exc, started=start, log=log)

    def close(self) -> None:
        """Nothing to release; later calls to ``inspect`` fail open."""
        self._closed = True
