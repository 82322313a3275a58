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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rampart.gateway.engines.native.parsing import Target
from rampart.gateway.engines.native.ruleset import RuleClass, Selectors, parse_selector
from rampart.gateway.model import EngineSettings

__all__ = [
    "SECLANG_SUFFIXES",
    "YAML_SUFFIXES",
    "Exclusion",
    "ExclusionError",
    "ExclusionSet",
    "exclusion_files",
    "exclusion_kind",
    "load_exclusions",
    "yaml_exclusion_files",
]


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

    exclusions: list[dict[str, Any]] = []


YAML_SUFFIXES: tuple[str, ...] = (".yaml", ".yml")
SECLANG_SUFFIXES: tuple[str, ...] = (".conf",)


def exclusion_kind(path: str | Path) -> Literal["yaml", "seclang"]:
    """``yaml`` (native engine) or ``seclang`` (seclang and crs engines), by the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in YAML_SUFFIXES:
        return "yaml"
    if suffix in SECLANG_SUFFIXES:
        return "seclang"
    raise ExclusionError(
        f"{path}: cannot tell the exclusion form from the name. Fix: name YAML exclusions *.yaml "
        "(native engine) and SecLang exclusions *.conf (seclang and crs engines)"
    )


def exclusion_files(settings: EngineSettings) -> tuple[str, ...]:
    """Every exclusion file the settings name (``exclusions_file`` first), without repeats."""
    named = ((settings.exclusions_file,) if settings.exclusions_file else ()) + tuple(settings.exclusions)
    return tuple(dict.fromkeys(named))


def yaml_exclusion_files(settings: EngineSettings) -> tuple[str, ...]:
    """The YAML exclusion files among the settings' exclusion files (the native engine's)."""
    return tuple(p for p in exclusion_files(settings) if exclusion_kind(p) == "yaml")


@dataclass(frozen=True, slots=True)
class ExclusionSet:
    """All exclusions; :meth:`active` picks those for one request."""

    entries: tuple[Exclusion, ...] = ()

    def active(self, path: str, method: str) -> tuple[Exclusion, ...]:
        return tuple(e for e in self.entries if e.applies_to_route(path, method))


def _entry_lines(text: str) -> list[int]:
    """1-based line of each entry of the top-level ``exclusions`` list (best effort)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if (
            isinstance(key, yaml.ScalarNode)
            and key.value == "exclusions"
            and isinstance(value, yaml.SequenceNode)
        ):
            return [item.start_mark.line + 1 for item in value.value]
    return []


_FIX = "each entry has route, optional methods and targets, and rule_ids and/or classes"


def _load_one(source: Path) -> list[Exclusion]:
    try:
        text = source.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ExclusionError(f"{source}: cannot read exclusions: {exc}. Fix: valid UTF-8 YAML") from None
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ExclusionError(
            f"{source}:1: invalid exclusions: {problems}. Fix: one top-level key, exclusions, a list "
            f"where {_FIX}"
        ) from None
    lines = _entry_lines(text)
    entries: list[Exclusion] = []
    for index, raw in enumerate(parsed.exclusions):
        line = lines[index] if index < len(lines) else 1
        try:
            entries.append(Exclusion.model_validate(raw))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}" for err in exc.errors()
            )
            raise ExclusionError(f"{source}:{line}: exclusion {index + 1}: {problems}. Fix: {_FIX}") from None
    return entries


def load_exclusions(paths: str | Path | Sequence[str | Path] | None) -> ExclusionSet:
    """Load YAML exclusions from one file or several (None or empty: no exclusions)."""
    if paths is None:
        return ExclusionSet()
    files = [paths] if isinstance(paths, str | Path) else list(paths)
    entries: list[Exclusion] = []
    for path in files:
        entries += _load_one(Path(path))
    return ExclusionSet(tuple(entries))
