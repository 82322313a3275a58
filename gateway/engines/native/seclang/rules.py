"""The rule model: frozen values the loader builds and the executor runs.

A :class:`Rule` is one ``SecRule`` or ``SecAction`` (``operator`` ``unconditionalMatch``),
with its chained rules in ``chain``; a :class:`Marker` is a ``SecMarker``. Actions are kept
parsed: the executor never looks at action text again, except for macros (``%{...}``), which
are expanded per transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Ctl", "Marker", "Rule", "SetVar", "Target"]


@dataclass(frozen=True, slots=True)
class Target:
    """One entry of a rule's variable list: ``ARGS``, ``ARGS:id``, ``!ARGS:/^utm_/``, ``&TX:x``.

    ``collection`` is upper-case; ``key`` keeps its spelling (lookups ignore case);
    ``key_regex`` holds the pattern of a ``/regex/`` key."""

    collection: str
    key: str | None = None
    key_regex: str | None = None
    exclude: bool = False
    count: bool = False

    def label(self) -> str:
        sel = f"/{self.key_regex}/" if self.key_regex is not None else self.key
        name = self.collection if sel is None else f"{self.collection}:{sel}"
        return ("!" if self.exclude else "") + ("&" if self.count else "") + name


@dataclass(frozen=True, slots=True)
class SetVar:
    """``setvar:COLLECTION.name<op>value``; ``op`` is ``=``, ``+``, ``-`` or ``!`` (delete).
    ``name`` and ``value`` may hold macros."""

    collection: str
    name: str
    op: str
    value: str


@dataclass(frozen=True, slots=True)
class Ctl:
    """``ctl:name=value`` (``ruleRemoveTargetById=942100;ARGS:foo``)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule (or chain link). Fields left at their defaults were not given."""

    id: int
    phase: int
    targets: tuple[Target, ...]
    operator: str  # lower-case name
    operator_arg: str
    negated: bool
    transforms: tuple[str, ...]
    file: Path
    line: int
    chain: Rule | None = None
    msg: str = ""
    logdata: str = ""
    tags: tuple[str, ...] = ()
    severity: int | None = None
    log: bool = True
    capture: bool = False
    multi_match: bool = False
    setvars: tuple[SetVar, ...] = ()
    setenvs: tuple[tuple[str, str], ...] = ()
    ctls: tuple[Ctl, ...] = ()
    skip: int = 0
    skip_after: str | None = None
    disruptive: str = "pass"
    status: int | None = None
    ver: str = ""
    extra: tuple[tuple[str, str], ...] = field(default=())  # other actions, kept for RULE.*

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def links(self) -> tuple[Rule, ...]:
        """This rule and its chained rules, in order."""
        out: list[Rule] = []
        rule: Rule | None = self
        while rule is not None:
            out.append(rule)
            rule = rule.chain
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Marker:
    """``SecMarker NAME``: where a ``skipAfter:NAME`` resumes."""

    name: str
