"""The ``crs`` engine: ModSecurity (libmodsecurity 3) running the OWASP Core Rule Set.

Rules compile once per engine (one shared ``RulesSet``); each request gets its own
``Transaction`` driven through connection, URI, headers and body (phases 1-2 only: the
response phases are neither loaded nor run). CRS runs in ``DetectionOnly`` so it scores
every request completely; the engine reads CRS's inbound anomaly total from a reporting
rule at the end of phase 2 (:mod:`rampart.gateway.engines.crs.config`) and decides itself:

- ``block`` mode and total >= threshold -> ``block``;
- ``detect`` mode and total >= threshold -> ``detect``;
- otherwise ``allow``.

The score is CRS's own ``tx.anomaly_score`` (CRS 4: ``tx.blocking_inbound_anomaly_score``),
not a sum over rule messages: one message can stand for several score increments when a rule
matches several variables. A body longer than ``body_limit`` (or marked ``body_truncated``)
is inspected as a prefix; the parse error a cut JSON/XML body then raises (rule 77010) is
dropped from matches and score, since the cut is the proxy's doing, not the client's.

``inspect`` never raises: an internal error yields ``allow`` with ``error`` set (fail open).

Where the work runs: the binding holds the GIL for a whole transaction, so a thread pool
adds hand-off latency without freeing the event loop. In-process (``processes=0``, the
default) the engine therefore tells the proxy to run it inline (``slow = False``). With
``processes=N`` (or ``RAMPART_CRS_PROCESSES=N``) each inspection runs in one of N worker
processes (:mod:`rampart.gateway.engines.crs.pool`); the calling thread just waits, GIL released, so the
engine asks to be offloaded (``slow = True``) and may be called from many threads at once
(``thread_safe = True``). Figures: docs/CRS.md.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from libmodsecurity import ModSecurity, RuleMessage, RulesSet, Transaction

from rampart.gateway.engines.crs.config import (
    BODY_ERROR_RULE_ID,
    BODY_ERROR_SCORE,
    LOCAL_RULE_IDS,
    REPORT_RULE_ID,
    CrsLayout,
    CrsLayoutError,
    engine_directives,
    report_directives,
    resolve_layout,
    tuning_directives,
)
from rampart.gateway.engines.crs.mapping import (
    failed_open,
    is_bookkeeping,
    parse_total,
    read_text,
    to_rule_match,
)
from rampart.gateway.model import EngineSettings, RawRequest, RuleMatch, Verdict

if TYPE_CHECKING:
    from rampart.gateway.engines.crs.pool import CrsProcessPool

__all__ = ["PROCESSES_ENV", "CrsEngine", "CrsLoadError"]

log = logging.getLogger(__name__)

PROCESSES_ENV = "RAMPART_CRS_PROCESSES"


class CrsLoadError(CrsLayoutError):
    """A CRS file failed to parse; the message names the file and libmodsecurity's error."""


def _discard(_line: str) -> None:
    """ModSecurity's server log goes nowhere: matches are read per transaction."""


def _text(value: str) -> str:
    """``value`` as libmodsecurity accepts it: bytes that are not UTF-8 (kept by aiohttp and
    mitmproxy as surrogate escapes) become U+FFFD instead of making the binding refuse the
    whole request, which would fail open."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def _processes(explicit: int | None) -> int:
    if explicit is not None:
        return max(0, explicit)
    raw = os.environ.get(PROCESSES_ENV, "").strip()
    if not raw:
        return 0
    try:
        return max(0, int(raw))
    except ValueError:
        raise CrsLayoutError(
            f"{PROCESSES_ENV}={raw!r} is not a number; set it to 0 (in-process) or N"
        ) from None


def _http_version(raw: str) -> str:
    version = raw.upper().removeprefix("HTTP/")
    return version or "1.1"


class CrsEngine:
    """OWASP CRS through libmodsecurity, behind the shared engine interface."""

    name = "crs"

    def __init__(
        self, settings: EngineSettings, *, processes: int | None = None, timeout: float | None = None
    ) -> None:
        """Compile CRS for ``settings``; raises :class:`CrsLayoutError` (or :class:`CrsLoadError`)
        naming the file at fault. ``processes`` (default ``$RAMPART_CRS_PROCESSES`` or 0) moves
        inspection to that many worker processes; ``timeout`` bounds a pooled inspection (fail open)."""
        self.settings = settings
        self.layout: CrsLayout = resolve_layout(settings)
        self._modsec = ModSecurity()
        self._modsec.set_connector_information("rampart-crs/0.1")
        self._modsec.set_log_callback(_discard)
        self._rules = RulesSet()
        self.rule_count = self._load()
        self._closed = False
        self._lock = threading.Lock()
        self.processes = _processes(processes)
        self._pool: CrsProcessPool | None = None
        if self.processes > 0:
            from rampart.gateway.engines.crs.pool import CrsProcessPool

            self._pool = CrsProcessPool(
                functools.partial(CrsEngine, settings, processes=0), self.processes, timeout=timeout
            )
        self.slow = self._pool is not None
        self.thread_safe = self._pool is not None

    def _load_text(self, text: str, origin: str) -> int:
        loaded = self._rules.load(text)
        if loaded < 0:
            raise CrsLoadError(f"{origin}: {self._rules.get_parser_error().strip()}")
        return loaded

    def _load_file(self, path: str) -> int:
        loaded = self._rules.load_from_uri(path)
        if loaded < 0:
            raise CrsLoadError(f"{path}: {self._rules.get_parser_error().strip()}")
        return loaded

    def _load(self) -> int:
        total = self._load_text(engine_directives(self.settings), "rampart engine directives")
        total += self._load_file(str(self.layout.setup))
        total += self._load_text(tuning_directives(self.settings), "rampart tuning (paranoia, threshold)")
        for path in self.layout.before_rules():
            total += self._load_file(str(path))
        for path in self.layout.rule_files:
            total += self._load_file(str(path))
        total += self._load_text(report_directives(), "rampart score reporter")
        return total

    def _body(self, request: RawRequest) -> tuple[bytes, bool]:
        """The inspected body and whether it is a cut prefix of the real one."""
        body = request.body[: self.settings.body_limit]
        return body, request.body_truncated or len(body) < len(request.body)

    def _transaction(self, request: RawRequest, body: bytes) -> list[RuleMessage]:
        tx = Transaction(self._modsec, self._rules, request.request_id or None)
        tx.process_connection(request.client_ip, request.client_port, request.server_ip, request.server_port)
        tx.process_uri(_text(request.target), _text(request.method), _http_version(request.http_version))
        for name, value in request.headers:
            tx.add_request_header(_text(name), _text(value))
        tx.process_request_headers()
        if body:
            tx.append_request_body(body)
        tx.process_request_body()
        return tx.get_rule_messages()

    def fired_rule_ids(self, request: RawRequest) -> frozenset[int]:
        """Every rule that logged a message for ``request`` - CRS's bookkeeping rules included,
        rampart's own local rules not: what a go-ftw run reads from ModSecurity's log. In-process
        only (a pooled engine raises ``RuntimeError``); errors propagate, unlike :meth:`inspect`."""
        if self._pool is not None:
            raise RuntimeError("fired_rule_ids runs in-process only; construct the engine with processes=0")
        body, _ = self._body(request)
        return frozenset(
            int(m.rule_id) for m in self._transaction(request, body) if int(m.rule_id) not in LOCAL_RULE_IDS
        )

    def inspect(self, request: RawRequest) -> Verdict:
        """Score ``request`` with CRS; never raises (fails open with ``error`` set)."""
        start = time.perf_counter()
        try:
            if self._closed:
                raise RuntimeError("engine is closed")
            if self._pool is not None:
                pooled = self._pool.inspect(request)
                return replace(pooled, elapsed_us=(time.perf_counter() - start) * 1e6)
            body, cut = self._body(request)
            matches: list[RuleMatch] = []
            reported: int | None = None
            discount = 0
            for msg in self._transaction(request, body):
                if msg.rule_id == REPORT_RULE_ID:
                    reported = parse_total(read_text(msg, "data"))
                elif cut and msg.rule_id == BODY_ERROR_RULE_ID:
                    discount += BODY_ERROR_SCORE
                elif not is_bookkeeping(msg.rule_id):
                    matches.append(to_rule_match(msg))
            score = reported - discount if reported is not None else sum(m.score for m in matches)
            return Verdict(
                engine=self.name,
                score=score,
                threshold=self.settings.threshold,
                matches=tuple(matches),
                elapsed_us=(time.perf_counter() - start) * 1e6,
            )
        except Exception as exc:
            return failed_open(self.name, self.settings.threshold, request, exc, started=start, log=log)

    def close(self) -> None:
        """Unregister the log callback (libmodsecurity keeps it otherwise); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._modsec.set_log_callback(None)
            if self._pool is not None:
                self._pool.close()
