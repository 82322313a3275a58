"""Deciding once what the gateway does about a request's verdicts.

Engines only report what they found (:class:`rampart.gateway.model.Verdict`: score, threshold,
matches, error). Two functions turn that into action, and every front end (the aiohttp proxy,
its WebSocket relay, the mitmproxy addon) calls them instead of deriving anything itself:

* :func:`run_engine` runs one engine with the one fail-open: any exception becomes a verdict
  with ``error`` set, which never blocks;
* :func:`decide` turns the verdicts (the first engine enforces, the others shadow) into an
  :class:`Outcome`: whether the request is refused and with which status, the harness-mode
  verdict headers, the incidents to audit and the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from rampart.gateway.audit import incidents_for, log_event
from rampart.gateway.model import Decision, InspectionEngine, Mode, RawRequest, Verdict
from rampart.incidents import Incident
from rampart.verdicts import WAF_HEADER, format_waf_header

__all__ = [
    "BLOCK_STATUS",
    "EngineAction",
    "Outcome",
    "RequestFacts",
    "decide",
    "engine_header",
    "run_engine",
]

BLOCK_STATUS = 403
logger = logging.getLogger("rampart.gateway.engines")


def engine_header(name: str) -> str:
    """``crs`` -> ``X-Rampart-Waf-Crs``: the per-engine harness header."""
    return WAF_HEADER + "-" + "-".join(p.capitalize() for p in name.replace("_", "-").split("-"))


def run_engine(
    engine: InspectionEngine, request: RawRequest, *, name: str | None = None, threshold: int = 0
) -> Verdict:
    """``engine.inspect(request)``, failing open: an exception (an engine that breaks the
    never-raise contract) becomes an allow verdict with ``error`` set, logged once here; the
    caller counts every verdict whose ``error`` is set."""
    try:
        return engine.inspect(request)
    except Exception as exc:  # fail open: a broken engine must not take the site down
        error = f"{type(exc).__name__}: {exc}"
        label = name or engine.name
        log_event(
            logger,
            logging.WARNING,
            "engine_failed_open",
            engine=label,
            request_id=request.request_id,
            error=error[:300],
        )
        return Verdict(engine=label, score=0, threshold=threshold, error=error)


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The request an audit record belongs to (client address after trusted-proxy resolution)."""

    request_id: str
    client: str = ""
    method: str = ""
    host: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class EngineAction:
    """What was done about one engine's verdict: ``decision`` is what its harness header and
    log line say (an enforcing engine's ``block`` only when the request was refused)."""

    name: str
    role: str  # enforce | shadow
    decision: Decision
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class Outcome:
    """The gateway's decision on one request (or WebSocket message)."""

    blocked: bool
    status: int | None  # the gateway's own answer (403), None: forward
    decision: Decision  # the request's: block, detect (some engine flagged it) or allow
    reason: str  # blocked | flagged | allowed | engine_error
    actions: tuple[EngineAction, ...]
    headers: tuple[tuple[str, str], ...] = ()  # harness mode: verdict headers to add
    incidents: tuple[Incident, ...] = ()  # status still unset; see audit_records

    @property
    def verdicts(self) -> tuple[Verdict, ...]:
        return tuple(a.verdict for a in self.actions)

    @property
    def header_map(self) -> dict[str, str]:
        return dict(self.headers)

    def audit_records(self, status: int) -> list[Incident]:
        """The incidents with the status the client got."""
        return [i.model_copy(update={"status": status}) for i in self.incidents]


def _action(index: int, name: str, verdict: Verdict, mode: Mode, blocked: bool) -> EngineAction:
    if not verdict.flagged:
        decision: Decision = "allow"
    elif index == 0:
        decision = "block" if blocked else "detect"
    else:
        decision = "block" if mode == "block" else "detect"  # what it would do if it enforced
    return EngineAction(name, "enforce" if index == 0 else "shadow", decision, verdict)


def decide(
    verdicts: Sequence[Verdict],
    *,
    mode: Mode,
    harness: bool,
    names: Sequence[str] | None = None,
    facts: RequestFacts | None = None,
    audit_limit: int = 20,
) -> Outcome:
    """The one place a mode meets verdicts. ``verdicts[0]`` is the enforcing engine's; the
    request is refused (403) only in block mode when that engine flagged it. ``names`` are
    the configured engine names (default: each verdict's ``engine``), used for the harness
    headers; ``facts`` fill the audit records (no facts: no incidents). Incidents: one per
    matched rule (at most ``audit_limit`` per engine) of every flagged verdict; the
    enforcing engine's carry ``block`` or ``detect``, shadow engines' ``detect``."""
    if not verdicts:
        raise ValueError("decide needs at least one verdict")
    labels = list(names) if names is not None else [v.engine for v in verdicts]
    if len(labels) != len(verdicts):
        raise ValueError(f"{len(labels)} engine names for {len(verdicts)} verdicts")
    blocked = mode == "block" and verdicts[0].flagged
    actions = tuple(
        _action(i, name, v, mode, blocked) for i, (name, v) in enumerate(zip(labels, verdicts, strict=True))
    )
    flagged = any(v.flagged for v in verdicts)
    decision: Decision = "block" if blocked else "detect" if flagged else "allow"
    if blocked:
        reason = "blocked"
    elif flagged:
        reason = "flagged"
    elif any(v.error is not None for v in verdicts):
        reason = "engine_error"
    else:
        reason = "allowed"
    headers: list[tuple[str, str]] = []
    if harness:
        for a in actions:
            value = format_waf_header(a.decision, a.verdict.score, a.verdict.rule_ids)
            if a.role == "enforce":
                headers.append((WAF_HEADER, value))
            headers.append((engine_header(a.name), value))
    incidents: list[Incident] = []
    if facts is not None and flagged:
        context = {
            "client": facts.client or None,
            "method": facts.method or None,
            "host": facts.host or None,
            "path": facts.path or None,
            "decision": decision,
        }
        for a in actions:
            if a.decision == "allow":
                continue
            action = a.decision if a.role == "enforce" else "detect"
            incidents += incidents_for(
                a.verdict, request_id=facts.request_id, action=action, limit=audit_limit, **context
            )
    return Outcome(
        blocked=blocked,
        status=BLOCK_STATUS if blocked else None,
        decision=decision,
        reason=reason,
        actions=actions,
        headers=tuple(headers),
        incidents=tuple(incidents),
    )
