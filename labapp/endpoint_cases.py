"""The lab's endpoint cases as data: ``endpoint_cases.yaml`` beside this module.

Each case is one request to an endpoint L1-L13 and what must come back (status, text that
appears or must not, the oracle effects it records). The lab's tests replay them against a
real lab, the sink guard's tests replay them through a guarded one. :func:`load_endpoint_cases`
validates every entry; a bad one raises :class:`EndpointCaseError` naming the file, the line
and the fix.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from rampart.labapp.canaries import LabSecrets
from rampart.labapp.seed import uploads

__all__ = [
    "CASES_FILE",
    "EndpointCase",
    "EndpointCaseError",
    "EndpointCases",
    "SecretText",
    "UploadDigest",
    "load_endpoint_cases",
]

CASES_FILE = Path(__file__).with_name("endpoint_cases.yaml")
GROUPS = ("benign", "bad_input", "attacks")
SECRET_NAMES: frozenset[str] = frozenset(f.name for f in fields(LabSecrets))


class EndpointCaseError(ValueError):
    """A case file that cannot be used: ``path:line: message``."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}:{line}: {message}" if line is not None else f"{path}: {message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SecretText(_Strict):
    """The value of one of the lab's per-run secrets (:class:`rampart.labapp.canaries.LabSecrets`)."""

    secret: str

    @model_validator(mode="after")
    def _known(self) -> SecretText:
        if self.secret not in SECRET_NAMES:
            raise ValueError(f"unknown secret {self.secret!r}; use one of {', '.join(sorted(SECRET_NAMES))}")
        return self

    def text(self, secrets: LabSecrets) -> str:
        return str(getattr(secrets, self.secret))


class UploadDigest(_Strict):
    """The SHA-256 (hex) of one of the lab's seeded uploads."""

    upload_sha256: str

    @model_validator(mode="after")
    def _known(self) -> UploadDigest:
        if self.upload_sha256 not in uploads():
            raise ValueError(
                f"unknown upload {self.upload_sha256!r}; use one of {', '.join(sorted(uploads()))}"
            )
        return self

    def text(self, secrets: LabSecrets) -> str:
        return hashlib.sha256(uploads()[self.upload_sha256]).hexdigest()


Expected = str | SecretText | UploadDigest


def expected_text(item: Expected, secrets: LabSecrets) -> str:
    """The text ``item`` stands for in a lab whose secrets are ``secrets``."""
    return item if isinstance(item, str) else item.text(secrets)


class EndpointCase(_Strict):
    """One request to the lab and what must come back."""

    id: str = Field(min_length=1)
    method: str = Field(pattern=r"^[A-Z]+$")
    path: str = Field(pattern=r"^/")
    params: dict[str, str] = Field(default_factory=dict)
    json_body: JsonValue = Field(default=None, alias="json")
    data: str | None = None
    nested_arrays: int | None = Field(default=None, ge=1, le=1_000_000)
    headers: dict[str, str] = Field(default_factory=dict)
    json_secrets: dict[str, str] = Field(default_factory=dict)
    status: int = Field(default=200, ge=100, le=599)
    contains: tuple[Expected, ...] = ()
    absent: tuple[Expected, ...] = ()
    effects: frozenset[str] = frozenset()

    @model_validator(mode="after")
    def _one_body(self) -> EndpointCase:
        bodies = [
            k
            for k, v in (("json", self.json_body), ("data", self.data), ("nested_arrays", self.nested_arrays))
            if v is not None
        ]
        if len(bodies) > 1:
            raise ValueError(f"give one body, not {' and '.join(bodies)}")
        if self.json_secrets and not isinstance(self.json_body, dict):
            raise ValueError("json_secrets needs a json mapping to fill")
        unknown = sorted(set(self.json_secrets.values()) - SECRET_NAMES)
        if unknown:
            raise ValueError(f"unknown secret {unknown[0]!r}; use one of {', '.join(sorted(SECRET_NAMES))}")
        return self

    def request_kwargs(self, secrets: LabSecrets | None = None) -> dict[str, Any]:
        """Keyword arguments for an aiohttp/httpx-style request (``params``, ``json``, ``data``,
        ``headers``); with ``secrets``, ``json_secrets`` fields are filled in."""
        kwargs: dict[str, Any] = {}
        if self.params:
            kwargs["params"] = dict(self.params)
        if self.json_body is not None:
            body = self.json_body
            if secrets is not None and isinstance(body, dict) and self.json_secrets:
                body = {**body, **{k: getattr(secrets, v) for k, v in self.json_secrets.items()}}
            kwargs["json"] = body
        if self.data is not None:
            kwargs["data"] = self.data
        if self.nested_arrays is not None:
            kwargs["data"] = "[" * self.nested_arrays + "]" * self.nested_arrays
        if self.headers:
            kwargs["headers"] = dict(self.headers)
        return kwargs


class EndpointCases(_Strict):
    """The three groups of the file, in file order."""

    benign: tuple[EndpointCase, ...]
    bad_input: tuple[EndpointCase, ...]
    attacks: tuple[EndpointCase, ...]

    def all(self) -> tuple[EndpointCase, ...]:
        return (*self.benign, *self.bad_input, *self.attacks)


_CASE_KEYS = tuple(f.alias or name for name, f in EndpointCase.model_fields.items())


def _problem(exc: ValidationError) -> str:
    errors = exc.errors()
    # of a union's errors, our own check (a value error) says the most
    err = next((e for e in errors if e["type"] == "value_error"), errors[0])
    loc = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "value_error":  # our own checks already say what to use
        return f"{loc}: {msg}" if loc else msg
    fix = {
        "missing": f"add the key {loc!r}",
        "extra_forbidden": f"remove {loc!r} or fix its spelling (keys: {', '.join(_CASE_KEYS)})",
    }.get(err["type"], "correct the value")
    return f"{loc}: {msg} (fix: {fix})" if loc else f"{msg} (fix: {fix})"


def _construct(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_endpoint_cases(path: Path = CASES_FILE) -> EndpointCases:
    """Every case of ``path``, validated; :class:`EndpointCaseError` names file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EndpointCaseError(path, None, f"cannot read the file ({exc.strerror})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise EndpointCaseError(path, line, f"YAML syntax error: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(root, yaml.MappingNode):
        raise EndpointCaseError(path, 1, f"the file must be a mapping with keys {', '.join(GROUPS)}")
    groups: dict[str, list[EndpointCase]] = {}
    seen: dict[str, int] = {}
    for key_node, value_node in root.value:
        group = key_node.value
        line = key_node.start_mark.line + 1
        if group not in GROUPS:
            raise EndpointCaseError(path, line, f"unknown group {group!r}; use {', '.join(GROUPS)}")
        if not isinstance(value_node, yaml.SequenceNode):
            raise EndpointCaseError(path, line, f"{group} must be a list of cases")
        cases = groups.setdefault(group, [])
        for node in value_node.value:
            line = node.start_mark.line + 1
            raw = _construct(node)
            if not isinstance(raw, dict):
                raise EndpointCaseError(path, line, "a case must be a mapping (id, method, path, ...)")
            try:
                case = EndpointCase.model_validate(raw)
            except ValidationError as exc:
                who = f"case {raw.get('id')!r}: " if isinstance(raw.get("id"), str) else ""
                raise EndpointCaseError(path, line, who + _problem(exc)) from None
            if case.id in seen:
                raise EndpointCaseError(
                    path, line, f"case id {case.id!r} is already used at line {seen[case.id]}; rename one"
                )
            seen[case.id] = line
            cases.append(case)
    missing = [g for g in GROUPS if g not in groups]
    if missing:
        raise EndpointCaseError(path, None, f"missing group(s) {', '.join(missing)}")
    return EndpointCases(
        benign=tuple(groups["benign"]), bad_input=tuple(groups["bad_input"]), attacks=tuple(groups["attacks"])
    )
