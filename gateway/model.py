"""Values the proxy and every inspection engine exchange.

The proxy builds one :class:`RawRequest` per request and hands it to each engine; an engine
returns a frozen :class:`Verdict`, and the proxy acts on it. Engines never see aiohttp
objects, so they are testable (and usable from mitmproxy) without a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = [
    "Decision",
    "EngineSettings",
    "InspectionEngine",
    "Mode",
    "OverBudget",
    "RawRequest",
    "RuleMatch",
    "Verdict",
]

Mode = Literal["detect", "block"]
Decision = Literal["allow", "detect", "block"]  # what the gateway did about one engine's verdict
OverBudget = Literal["block", "allow"]


@dataclass(frozen=True, slots=True)
class RawRequest:
    """A request as received, before any normalisation."""

    method: str
    target: str  # raw request-target: path plus "?query", exactly as sent
    headers: tuple[tuple[str, str], ...]  # in order, duplicates kept
    body: bytes = b""
    http_version: str = "1.1"
    client_ip: str = "127.0.0.1"
    client_port: int = 0
    server_ip: str = "127.0.0.1"
    server_port: int = 80
    request_id: str = ""
    body_truncated: bool = False  # body over the inspection limit: engines see only its first part

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """One rule that fired: where, on what, and what it adds to the anomaly score."""

    rule_id: str
    attack_class: str  # one of rampart.classes.ATTACK_CLASSES, or "protocol"/"anomaly"
    message: str
    severity: str  # critical | error | warning | notice
    score: int
    target: str  # e.g. "ARGS_GET:category[$ne]", "ARGS_POST:$.username", "REQUEST_HEADERS:user-agent"
    matched: str  # the matched text (not redacted here; the audit log redacts)
    paranoia: int = 1
    tags: tuple[str, ...] = ()
    ruleset: str = ""  # the rule set it belongs to, in an engine that runs several ("crs", "rampart")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an engine found in one request: the anomaly score against its threshold and the
    rules that fired. An engine never reads the mode; :func:`rampart.gateway.decision.decide` turns
    verdicts into what the gateway does."""

    engine: str
    score: int
    threshold: int
    matches: tuple[RuleMatch, ...] = field(default_factory=tuple)
    elapsed_us: float = 0.0
    error: str | None = None  # the engine failed open; the proxy counts it
    budget_exceeded: bool = False  # inspection stopped at the engine's time budget (rule budget_exceeded)

    @property
    def flagged(self) -> bool:
        """The score reached the threshold (never for an engine that failed)."""
        return self.error is None and self.score >= self.threshold

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.rule_id for m in self.matches))

    @property
    def attack_classes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.attack_class for m in self.matches))


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """What every engine is constructed with (``Engine(settings)``)."""

    mode: Mode = "detect"
    paranoia: int = 1  # 1..4
    threshold: int = 5  # inbound anomaly score at or above which the request is blocked
    rules_dir: str | None = None  # native: a folder of the team's YAML rules, added to the shipped set
    shipped_rules: bool = True  # native: False: rules_dir replaces the shipped rules
    exclusions_file: str | None = None  # exclusions: YAML (native) or SecLang .conf (seclang, crs)
    exclusions: tuple[str, ...] = ()  # more exclusion files, same two forms (docs/RULES.md)
    crs_dir: str | None = None  # crs: CRS checkout (None: /usr/share/modsecurity-crs)
    crs_setup: str | None = None  # crs: crs-setup.conf (None: /etc/modsecurity/crs/crs-setup.conf)
    body_limit: int = 1 << 20  # bytes inspected at most
    budget_ms: float = 250.0  # native: inspection time per request at most (0: no budget)
    over_budget: OverBudget = "block"  # native: a request over budget scores the threshold, or not
    confirm: tuple[str, ...] = ()  # native: CRS families ("sqli", "xss", "rce", "path", "php",
    # "attr") counted only when rampart's reading confirms the matched input (docs/CRS.md)


class InspectionEngine(Protocol):
    """What the proxy needs from an engine. ``inspect`` is synchronous CPU work; the proxy
    decides whether to run it on the loop or in a worker.

    Optional attributes the proxy reads with ``getattr``: ``slow: bool`` (always inspect in
    the worker pool) and ``thread_safe: bool`` (may run concurrently in several threads;
    otherwise the proxy serialises its calls)."""

    name: str

    def inspect(self, request: RawRequest) -> Verdict: ...

    def close(self) -> None: ...
