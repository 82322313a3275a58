"""Exclusions for false-positive tuning: per route prefix (and method), per target, disable rule
ids or whole classes. Data in YAML::

    exclusions:
      - route: /api/comments        # path prefix on the normalised path, on segment boundaries
        methods: [POST]             # optional; default: every method
        targets: ["ARGS:$.text"]    # optional; default: every target of the request
        rule_ids: [7001]            # rule ids and/or
        classes: [xss]              # attack classes switched off there
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.engines.native.parsing import Target
from gateway.engines.native.ruleset import RuleClass, Selectors, parse_selector

__all__ = ["Exclusion", "ExclusionError", "ExclusionSet", "load_exclusions"]


class ExclusionError(ValueError):
    """The exclusions file is unreadable or invalid; the message names file, entry and fix."""


class Exclusion(BaseModel):
    """One exclusion entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    route: str = Field(default="/", pattern=r"^/")
    methods: tuple[str, ...] = ()
    targets: Selectors = ()
    rule_ids: frozenset[int] = frozenset()
    classes: frozenset[RuleClass] = frozenset()

    @model_validator(mode="after")
    def _disables_something(self) -> Exclusion:
        if not self.rule_ids and not self.classes:
            raise ValueError("an exclusion must name rule_ids or classes to disable")
        return self

    def applies_to_route(self, path: str, method: str) -> bool:
        if self.methods and method.upper() not in {m.upper() for m in self.methods}:
            return False
        route = self.route.rstrip("/")
        return not route or path == route or path.startswith(route + "/")

    def covers(self, rule_id: int, attack_class: str, target: Target) -> bool:
        if rule_id not in self.rule_ids and attack_class not in self.classes:
            return False
        if not self.targets:
            return True
        for selector in self.targets:
            for collection, key in parse_selector(selector):
                if collection == target.collection and (key is None or key == target.key):
                    return True
        return False


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    exclusions: list[Exclusion] = []


@dataclass(frozen=True, slots=True)
class ExclusionSet:
    """All exclusions; :meth:`active` picks those for one request."""

    entries: tuple[Exclusion, ...] = ()

    def active(self, path: str, method: str) -> tuple[Exclusion, ...]:
        return tuple(e for e in self.entries if e.applies_to_route(path, method))


def load_exclusions(path: str | Path | None) -> ExclusionSet:
    """Load exclusions from YAML (None: no exclusions)."""
    if path is None:
        return ExclusionSet()
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ExclusionError(f"{source}: cannot read exclusions: {exc}. Fix: valid UTF-8 YAML") from None
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ExclusionError(
            f"{source}: invalid exclusions: {problems}. Fix: each entry has route, optional methods and "
            "targets, and rule_ids and/or classes"
        ) from None
    return ExclusionSet(tuple(parsed.exclusions))
