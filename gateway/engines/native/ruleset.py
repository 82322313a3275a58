"""Rule files: YAML data validated by pydantic, one file per attack class.

A file looks like::

    class: sql_injection
    id_range: [3000, 3999]
    rules:
      - id: 3001
        message: SQL injection (tokenizer)
        severity: critical          # critical=5, error=4, warning=3, notice=2 anomaly points
        paranoia: 1                 # 1..4
        tags: [attack-sqli]
        targets: [ARGS, ARGS_NAMES, REQUEST_COOKIES]
        transformations: [url_decode, unicode_normalise]
        operator: detect_sqli
        argument: null
        prefilter: null             # optional Hyperscan patterns replacing the operator's own;
                                    # they must match wherever the operator can (a superset)
        examples:
          attack: ["' or '1'='1"]              # a value for the rule's first target ...
          benign: [{target: "/x?q=O%27Brien"}] # ... or a whole request

Every problem is reported as :class:`RuleLoadError` naming the file, the line, the rule id and the
fix. Operators are constructed here, so a bad operator argument is caught at load time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import re2
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from rampart.classes import ATTACK_CLASSES, AttackClass, known_classes
from rampart.gateway.engines.native import operators, transforms
from rampart.gateway.engines.native.operators import Operator
from rampart.gateway.engines.native.parsing import ALIASES, COLLECTIONS
from rampart.gateway.model import RawRequest

__all__ = [
    "DEFAULT_RULES_DIR",
    "RULE_CLASSES",
    "SEVERITY_SCORES",
    "ExampleRequest",
    "LoadedRule",
    "RuleClass",
    "RuleLoadError",
    "RuleSpec",
    "Selectors",
    "example_request",
    "load_rule_file",
    "load_rule_set",
    "load_rules",
    "parse_selector",
    "rules_by_id",
]

DEFAULT_RULES_DIR = Path(__file__).resolve().parent / "rules"
SEVERITY_SCORES: dict[str, int] = {"critical": 5, "error": 4, "warning": 3, "notice": 2}
RULE_CLASSES: frozenset[str] = frozenset((*ATTACK_CLASSES, "protocol", "anomaly"))
RuleClass = Annotated[
    AttackClass | Literal["protocol", "anomaly"], BeforeValidator(known_classes(sorted(RULE_CLASSES)))
]
"""A rule's class: an attack class, or ``protocol``/``anomaly`` for the rules of no attack."""
Severity = Literal["critical", "error", "warning", "notice"]


class RuleLoadError(ValueError):
    """A rule file is unreadable or invalid; the message names file, line, rule and fix."""


@lru_cache(maxsize=1024)
def parse_selector(selector: str) -> tuple[tuple[str, str | None], ...]:
    """``"ARGS:q"`` -> ``(("ARGS_GET", "q"), ("ARGS_POST", "q"))``; raises ValueError if unknown."""
    collection, sep, key = selector.partition(":")
    if collection not in COLLECTIONS and collection not in ALIASES:
        known = ", ".join(sorted(COLLECTIONS | ALIASES.keys()))
        raise ValueError(f"unknown target collection {collection!r} in {selector!r}; known: {known}")
    if collection in ("REQUEST_HEADERS", "MULTIPART_PART_HEADERS"):
        key = key.lower()
    expanded = ALIASES.get(collection, (collection,))
    return tuple((c, key if sep else None) for c in expanded)


def _check_selectors(value: tuple[str, ...]) -> tuple[str, ...]:
    for selector in value:
        parse_selector(selector)
    return value


Selectors = Annotated[tuple[str, ...], AfterValidator(_check_selectors)]
"""Target selectors (``ARGS:q``, ``REQUEST_HEADERS``...), each checked by :func:`parse_selector`."""


class ExampleRequest(BaseModel):
    """A whole request used as a rule example."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    method: str = "GET"
    target: str = "/probe"
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    json_body: Any = Field(default=None, alias="json")
    body_truncated: bool = False
    fill_text: str = "a"
    fill_count: int = Field(default=0, ge=0, le=1 << 20)

    def to_raw(self) -> RawRequest:
        """The request; ``@FILL@`` in target or body becomes ``fill_text * fill_count``."""
        fill = self.fill_text * self.fill_count
        headers = self.headers
        body = self.body.replace("@FILL@", fill).encode()
        if self.json_body is not None:
            body = json.dumps(self.json_body).encode()
            if not any(k.lower() == "content-type" for k, _ in headers):
                headers = (*headers, ("Content-Type", "application/json"))
        return RawRequest(
            method=self.method,
            target=self.target.replace("@FILL@", fill),
            headers=(("Host", "lab.test"), *headers),
            body=body,
            body_truncated=self.body_truncated,
        )


Example = str | ExampleRequest


class Examples(BaseModel):
    """Regression examples: attacks this rule must catch, tricky benign inputs it must let pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attack: tuple[Example, ...] = ()
    benign: tuple[Example, ...] = ()


class RuleSpec(BaseModel):
    """One rule as written in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: int = Field(gt=0)
    message: str = Field(min_length=1)
    attack_class: RuleClass = Field(alias="class")
    severity: Severity
    paranoia: int = Field(default=1, ge=1, le=4)
    tags: tuple[str, ...] = ()
    targets: Selectors = Field(min_length=1)
    transformations: tuple[str, ...] = ()
    operator: str
    argument: Any = None
    negate: bool = False
    prefilter: tuple[str, ...] | None = None
    examples: Examples = Examples()

    @field_validator("transformations")
    @classmethod
    def _known_transformations(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            transforms.get(name)
        return value

    @field_validator("operator")
    @classmethod
    def _known_operator(cls, value: str) -> str:
        operators.get(value)
        return value

    @property
    def score(self) -> int:
        return SEVERITY_SCORES[self.severity]


class _RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    attack_class: str = Field(alias="class")
    id_range: tuple[int, int]
    description: str = ""
    rules: list[dict[str, Any]] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class LoadedRule:
    """A validated rule with its constructed operator and where it came from."""

    spec: RuleSpec
    operator: Operator
    source: str
    line: int


def _rule_lines(text: str) -> list[int]:
    """1-based line of each entry of the top-level ``rules`` list (best effort)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "rules" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _format_validation(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'rule'}: {err['msg']}" for err in exc.errors()
    )


def _check_pattern(spec: RuleSpec) -> None:
    if spec.operator == "rx" and isinstance(spec.argument, str):
        try:
            empty = re2.search(spec.argument, "") is not None
        except re2.error:
            return
        if empty:
            raise ValueError(
                "the rx pattern matches the empty string; make it require at least one character"
            )


def load_rule_file(path: Path) -> list[LoadedRule]:
    """Load and validate one rule file."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RuleLoadError(f"{path}: cannot read rule file: {exc}. Fix: valid UTF-8 YAML") from None
    try:
        header = _RuleFile.model_validate(data)
    except ValidationError as exc:
        raise RuleLoadError(
            f"{path}: invalid rule file: {_format_validation(exc)}. "
            "Fix: top-level keys are class, id_range, description, rules (a non-empty list)"
        ) from None
    low, high = header.id_range
    lines = _rule_lines(text)
    loaded: list[LoadedRule] = []
    for index, raw in enumerate(header.rules):
        line = lines[index] if index < len(lines) else 0
        rule_id = raw.get("id", "?") if isinstance(raw, dict) else "?"
        where = f"{path}:{line}: rule {rule_id}"
        try:
            spec = RuleSpec.model_validate({"class": header.attack_class, **raw})
            if not low <= spec.id <= high:
                raise ValueError(f"id {spec.id} is outside this file's id_range [{low}, {high}]")
            _check_pattern(spec)
            operator = operators.get(spec.operator)(spec.argument)
        except ValidationError as exc:
            raise RuleLoadError(
                f"{where}: {_format_validation(exc)}. Fix: correct the field(s) named"
            ) from None
        except (ValueError, KeyError) as exc:
            raise RuleLoadError(f"{where}: {exc}. Fix: correct the rule") from None
        loaded.append(LoadedRule(spec=spec, operator=operator, source=str(path), line=line))
    return loaded


def _rule_files(folder: Path, option: str) -> list[Path]:
    if not folder.is_dir():
        raise RuleLoadError(
            f"{folder}: rules folder not found. Fix: point {option} at a folder of *.yaml files"
        )
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise RuleLoadError(f"{folder}: no rules found. Fix: add *.yaml rule files")
    return files


def _collect(paths: Sequence[Path], *, fix: str) -> tuple[LoadedRule, ...]:
    """Every rule of ``paths`` in order; a repeated id names both places and ``fix``."""
    rules: list[LoadedRule] = []
    seen: dict[int, LoadedRule] = {}
    for path in paths:
        for rule in load_rule_file(path):
            first = seen.get(rule.spec.id)
            if first is not None:
                raise RuleLoadError(
                    f"{rule.source}:{rule.line}: rule {rule.spec.id}: duplicate id, already used at "
                    f"{first.source}:{first.line}. Fix: {fix}"
                )
            seen[rule.spec.id] = rule
            rules.append(rule)
    if not rules:
        raise RuleLoadError(f"{', '.join(str(p) for p in paths)}: no rules found. Fix: add rules")
    return tuple(rules)


def load_rules(directory: str | Path | None = None) -> tuple[LoadedRule, ...]:
    """Every rule of every ``*.yaml`` file in ``directory`` (default: the shipped rules), ids unique."""
    folder = Path(directory) if directory is not None else DEFAULT_RULES_DIR
    return _collect(_rule_files(folder, "rules_dir"), fix="give each rule a unique id in its file's range")


def load_rule_set(custom: str | Path | None = None, *, shipped: bool = True) -> tuple[LoadedRule, ...]:
    """The rules an engine runs: the shipped rules (unless ``shipped`` is false) and then the
    team's own folder ``custom`` (when given). An id used in both is an error naming both files
    and lines; ``shipped=False`` without a folder is an error too (no rules at all)."""
    paths: list[Path] = []
    if shipped:
        paths += _rule_files(DEFAULT_RULES_DIR, "rules_dir")
    if custom is not None:
        paths += _rule_files(Path(custom), "rules_dir (--rules)")
    elif not shipped:
        raise RuleLoadError(
            "shipped_rules is false and no rules_dir is set: the engine would have no rules. "
            "Fix: set engine.rules_dir (--rules DIR) or shipped_rules = true"
        )
    fix = (
        "give the custom rule an id no shipped rule uses (custom rules: 50000-99999, see docs/RULES.md), "
        "or set engine.shipped_rules = false to replace the shipped rules"
        if shipped and custom is not None
        else "give each rule a unique id in its file's range"
    )
    return _collect(paths, fix=fix)


def _get(value: str) -> RawRequest:
    return ExampleRequest(target=f"/probe?q={quote(value, safe='')}").to_raw()


def _get_name(value: str) -> RawRequest:
    return ExampleRequest(target=f"/probe?{quote(value, safe='[]')}=1").to_raw()


def _post_form(value: str) -> RawRequest:
    return ExampleRequest(
        method="POST",
        headers=(("Content-Type", "application/x-www-form-urlencoded"),),
        body=f"q={quote(value, safe='')}",
    ).to_raw()


def _post_json_key(value: str) -> RawRequest:
    return ExampleRequest(method="POST", json={value: "x"}).to_raw()


def _body(value: str) -> RawRequest:
    return ExampleRequest(method="POST", headers=(("Content-Type", "text/plain"),), body=value).to_raw()


def _uri(value: str) -> RawRequest:
    return ExampleRequest(target=value).to_raw()


def _method(value: str) -> RawRequest:
    return ExampleRequest(method=value).to_raw()


def _cookie(value: str) -> RawRequest:
    return ExampleRequest(headers=(("Cookie", f"probe={value}"),)).to_raw()


def _files(value: str) -> RawRequest:
    body = f'--b\r\nContent-Disposition: form-data; name="f"; filename="{value}"\r\n\r\nx\r\n--b--\r\n'
    return ExampleRequest(
        method="POST", headers=(("Content-Type", "multipart/form-data; boundary=b"),), body=body
    ).to_raw()


_EXAMPLE_BUILDERS: dict[str, Callable[[str], RawRequest]] = {
    "ARGS": _get,
    "ARGS_GET": _get,
    "ARGS_NAMES": _get_name,
    "ARGS_GET_NAMES": _get_name,
    "ARGS_POST": _post_form,
    "ARGS_POST_NAMES": _post_json_key,
    "REQUEST_BODY": _body,
    "REQUEST_URI": _uri,
    "REQUEST_URI_RAW": _uri,
    "REQUEST_METHOD": _method,
    "REQUEST_COOKIES": _cookie,
    "FILES": _files,
}


def example_request(spec: RuleSpec, example: Example) -> RawRequest:
    """The request an example stands for: a whole request, or the value put into the rule's first
    target (a query parameter for ``ARGS``, a header for ``REQUEST_HEADERS:name``, ...)."""
    if isinstance(example, ExampleRequest):
        return example.to_raw()
    collection, _, key = spec.targets[0].partition(":")
    if collection == "REQUEST_HEADERS":
        return ExampleRequest(headers=((key or "X-Probe", example),)).to_raw()
    builder = _EXAMPLE_BUILDERS.get(collection)
    if builder is None:
        raise RuleLoadError(
            f"rule {spec.id}: a plain-string example cannot be placed in {spec.targets[0]}. "
            "Fix: write the example as a whole request {method, target, headers, body, json}"
        )
    return builder(example)


def rules_by_id(rules: Sequence[LoadedRule]) -> dict[int, LoadedRule]:
    """Index loaded rules by id."""
    return {r.spec.id: r for r in rules}
