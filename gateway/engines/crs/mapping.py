"""Turn libmodsecurity rule messages into the shared :class:`~rampart.gateway.model.RuleMatch`.

Attack classes come from three registries, most specific first:

1. ``RULE_CLASSES`` - single rule ids whose tag says less than the rule does (Java
   deserialization magic bytes are tagged ``attack-rce``);
2. ``FAMILY_CLASSES`` - CRS rule-file families (first three digits of the id) whose tag is
   too coarse for this project's classes (PHP, Node.js and Java injection are code injection);
3. ``TAG_CLASSES`` - the CRS ``attack-*`` tags.

Anything else is ``anomaly``. Scores follow CRS's default severity weights.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Protocol

from rampart.gateway.engines.crs.config import LOCAL_RULE_IDS, REPORT_RULE_ID
from rampart.gateway.model import RawRequest, RuleMatch, Verdict
from rampart.incidents import escape_controls

__all__ = [
    "BOOKKEEPING_FAMILIES",
    "FAMILY_CLASSES",
    "RULE_CLASSES",
    "SEVERITIES",
    "TAG_CLASSES",
    "MessageLike",
    "attack_class_for",
    "failed_open",
    "is_bookkeeping",
    "parse_total",
    "read_text",
    "to_rule_match",
]


class MessageLike(Protocol):
    """What the mapping reads from a ``libmodsecurity.RuleMessage``."""

    @property
    def rule_id(self) -> int: ...
    @property
    def severity(self) -> int: ...
    @property
    def message(self) -> str: ...
    @property
    def match(self) -> str: ...
    @property
    def data(self) -> str: ...
    @property
    def tags(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Severity:
    name: str
    score: int


# syslog levels as ModSecurity reports them -> CRS's default anomaly weights
SEVERITIES: dict[int, Severity] = {
    0: Severity("emergency", 5),
    1: Severity("alert", 5),
    2: Severity("critical", 5),
    3: Severity("error", 4),
    4: Severity("warning", 3),
    5: Severity("notice", 2),
    6: Severity("info", 0),
    7: Severity("debug", 0),
}

TAG_CLASSES: dict[str, str] = {
    "attack-sqli": "sql_injection",
    "attack-xss": "xss",
    "attack-rce": "command_injection",
    "attack-lfi": "path_traversal",
    "attack-rfi": "ssrf",
    "attack-ssrf": "ssrf",
    "attack-injection-php": "code_injection",
    "attack-injection-nodejs": "code_injection",
    "attack-injection-java": "code_injection",
    "attack-injection-generic": "code_injection",
    "attack-ssti": "ssti",
    "attack-deserialization": "deserialization",
    "attack-protocol": "protocol",
    "attack-multipart-header": "protocol",
    "attack-deprecated-header": "protocol",
    "attack-generic": "anomaly",
    "attack-fixation": "anomaly",
    "attack-dos": "anomaly",
    "attack-reputation-ip": "anomaly",
    "attack-reputation-scanner": "anomaly",
    "attack-reputation-crawler": "anomaly",
    "attack-reputation-scripting": "anomaly",
}

FAMILY_CLASSES: dict[str, str] = {
    "933": "code_injection",  # PHP injection
    "934": "code_injection",  # CRS 3: Node.js injection; CRS 4: generic (see RULE_CLASSES)
    "944": "code_injection",  # Java: classes, methods, process spawn
}

RULE_CLASSES: dict[str, str] = {
    "944200": "deserialization",  # Java serialization magic bytes
    "944210": "deserialization",  # the same, base64 encoded
    "944220": "deserialization",
    "944230": "deserialization",
    "934110": "ssrf",  # CRS 4: cloud metadata / SSRF
    "934120": "ssrf",
    "934130": "code_injection",  # CRS 4: JavaScript prototype pollution
}

# 949/959: blocking evaluation; 980: correlation and reporting
BOOKKEEPING_FAMILIES: frozenset[str] = frozenset({"949", "959", "980"})

_PL_TAG = re.compile(r"paranoia-level/(\d)")
_FOUND_WITHIN = re.compile(r"Matched Data: (?P<matched>.*?) found within (?P<target>[A-Z_]+(?::[^\s:]+)?): ")
_AGAINST = re.compile(r"against variable `(?P<target>[^']+)'")
_VALUE = re.compile(r"\(Value: `(?P<value>.*)' \)")
_TOTAL = re.compile(r"^\s*(\d*)\s*\|\s*(\d*)\s*$")


def is_bookkeeping(rule_id: int) -> bool:
    """True for CRS evaluation/reporting rules and rampart's own score reporter."""
    rid = str(rule_id)
    return rule_id == REPORT_RULE_ID or (rule_id not in LOCAL_RULE_IDS and rid[:3] in BOOKKEEPING_FAMILIES)


def attack_class_for(rule_id: str, tags: list[str] | tuple[str, ...]) -> str:
    """Resolve a rule's class through the three registries (module docstring)."""
    if rule_id in RULE_CLASSES:
        return RULE_CLASSES[rule_id]
    if len(rule_id) == 6 and rule_id[:3] in FAMILY_CLASSES:
        return FAMILY_CLASSES[rule_id[:3]]
    for tag in tags:
        if tag in TAG_CLASSES:
            return TAG_CLASSES[tag]
    return "anomaly"


def read_text(msg: MessageLike, attr: str) -> str:
    """A text field of a rule message, or ``""`` when it is not valid UTF-8.

    The binding decodes lazily and strictly: ``%ff<script>`` in a parameter makes ``data``
    (which quotes the decoded value) raise. Reading every text field through here keeps such
    a request scored instead of failing open.
    """
    try:
        value = getattr(msg, attr)
    except UnicodeDecodeError:
        return ""
    return value if isinstance(value, str) else ""


def _target_and_matched(msg: MessageLike) -> tuple[str, str]:
    data = read_text(msg, "data")
    match = read_text(msg, "match")
    if m := _FOUND_WITHIN.search(data):
        return m.group("target"), m.group("matched")
    target = m.group("target") if (m := _AGAINST.search(match)) else ""
    if data:
        return target, data
    value = m.group("value") if (m := _VALUE.search(match)) else ""
    return target, value


def to_rule_match(msg: MessageLike) -> RuleMatch:
    """One CRS rule message as a shared :class:`RuleMatch`."""
    rule_id = str(msg.rule_id)
    tags = tuple(msg.tags)
    severity = SEVERITIES.get(msg.severity, Severity("notice", 2))
    pl = next((int(m.group(1)) for t in tags if (m := _PL_TAG.fullmatch(t))), 1)
    target, matched = _target_and_matched(msg)
    return RuleMatch(
        rule_id=rule_id,
        attack_class=attack_class_for(rule_id, tags),
        message=read_text(msg, "message"),
        severity=severity.name,
        score=severity.score,
        target=target,
        matched=matched,
        paranoia=pl,
        tags=tags,
    )


def parse_total(data: str) -> int | None:
    """Read the reporter rule's ``logdata`` (``v3|v4``); ``None`` when neither is a number."""
    m = _TOTAL.match(data)
    if m is None:
        return None
    values = [int(v) for v in m.groups() if v]
    return max(values) if values else None


def failed_open(
    engine: str, threshold: int, request: RawRequest, exc: Exception, *, started: float, log: logging.Logger
) -> Verdict:
    """The verdict of a CRS engine (libmodsecurity's or rampart's own) that failed on
    ``request``: no score, ``error`` set (the proxy counts it), one bounded log line."""
    log.warning(
        "%s engine failed open on %s %s: %s",
        engine,
        escape_controls(request.method[:16]),
        escape_controls(request.target[:200]),
        escape_controls(f"{type(exc).__name__}: {exc}"[:300]),
    )
    return Verdict(
        engine=engine,
        score=0,
        threshold=threshold,
        elapsed_us=(time.perf_counter() - started) * 1e6,
        error=f"{type(exc).__name__}: {exc}",
    )
