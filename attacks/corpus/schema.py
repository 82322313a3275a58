"""Pydantic models for the corpus data files: base payloads and benign generators.

A base payload file (``data/base/<class>.yaml``) holds one attack class::

    class: sql_injection
    provenance: written for rampart after the PortSwigger SQLi cheat sheet
    payloads:
      - id: sql.l3.union-secrets
        endpoint: L3
        param: id
        payload: "0 UNION SELECT id, name, token FROM secrets"
        expect: {oracle: canary_leak}
        notes: three columns like the orders query

A benign file (``data/benign/<endpoint>.yaml``) holds generators whose templates are filled
from word lists (``@@name@@``, ``@@int:1-500@@``) with a seeded random generator.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from rampart.attacks.cases import Expect
from rampart.attacks.mutators import ENDPOINT_SPECS, encoders, get_placement
from rampart.classes import KnownAttackClass

__all__ = ["CLASS_PREFIX", "BaseFile", "BasePayload", "BenignFile", "BenignGenerator"]

CLASS_PREFIX: dict[str, str] = {
    "nosql_injection": "nosql",
    "sql_injection": "sql",
    "command_injection": "cmd",
    "ssrf": "ssrf",
    "path_traversal": "path",
    "xss": "xss",
    "prompt_injection": "prompt",
    "ssti": "ssti",
    "code_injection": "code",
    "deserialization": "deser",
}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class BasePayload(BaseModel):
    """One hand-written attack: the payload, where it goes and what proves it worked."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str
    attack_class: KnownAttackClass = Field(alias="class")
    endpoint: str
    param: str
    payload: JsonValue
    placement: str | None = None  # pin one placement; default: every placement that accepts it
    fields: dict[str, JsonValue] = Field(default_factory=dict)  # the request's other parameters
    expect: Expect
    provenance: str
    notes: str = ""
    tags: list[str] = Field(default_factory=list)
    mutators: list[str] | None = None  # only these encoders (None: every applicable one)
    skip_mutators: list[str] = Field(default_factory=list)
    line: int | None = Field(default=None, exclude=True)

    @field_validator("endpoint")
    @classmethod
    def _known_endpoint(cls, v: str) -> str:
        if v not in ENDPOINT_SPECS:
            raise ValueError(f"unknown endpoint {v!r}; use one of {', '.join(ENDPOINT_SPECS)}")
        return v

    @field_validator("mutators", "skip_mutators")
    @classmethod
    def _known_mutators(cls, v: list[str] | None) -> list[str] | None:
        for name in v or ():
            if name not in encoders:
                raise ValueError(f"unknown encoder {name!r}; known encoders: {', '.join(encoders.names())}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> BasePayload:
        spec = ENDPOINT_SPECS[self.endpoint]
        if spec.attack_class != self.attack_class:
            raise ValueError(
                f"endpoint {self.endpoint} is a {spec.attack_class} endpoint, not {self.attack_class}; "
                f"move the payload to {spec.attack_class}.yaml or change its endpoint"
            )
        prefix = f"{CLASS_PREFIX[self.attack_class]}.{self.endpoint.lower()}."
        if not self.id.startswith(prefix) or not _SLUG.match(self.id[len(prefix) :]):
            raise ValueError(f"id {self.id!r} must read {prefix}<slug> with a slug of a-z, 0-9 and '-'")
        if self.param not in spec.params:
            raise ValueError(
                f"{self.endpoint} reads {', '.join(spec.params)}, not {self.param!r}; use one of those"
            )
        for name in self.fields:
            if name not in spec.params:
                raise ValueError(
                    f"field {name!r} is not read by {self.endpoint}; it reads {', '.join(spec.params)}"
                )
        if self.placement is not None:
            if self.placement not in spec.placements:
                raise ValueError(
                    f"{self.endpoint} is not reached through placement {self.placement!r}; "
                    f"use one of {', '.join(spec.placements)}"
                )
            if not get_placement(self.placement).accepts(self.payload):
                raise ValueError(f"placement {self.placement!r} cannot carry a {type(self.payload).__name__}")
        elif not any(get_placement(p).accepts(self.payload) for p in spec.placements):
            raise ValueError(
                f"no placement of {self.endpoint} ({', '.join(spec.placements)}) carries a "
                f"{type(self.payload).__name__} payload; use a string"
            )
        return self


class BaseFile(BaseModel):
    """A ``data/base/<class>.yaml`` file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    attack_class: str = Field(alias="class")
    provenance: str
    payloads: list[dict[str, Any]]


class BenignGenerator(BaseModel):
    """Benign requests from templates: ``count`` distinct fillings of ``fields``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    count: int = Field(ge=1, le=1000)
    hard: bool = False
    fields: dict[str, str]
    notes: str = ""
    line: int | None = Field(default=None, exclude=True)


class BenignFile(BaseModel):
    """A ``data/benign/<endpoint>.yaml`` file."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str
    vocab: dict[str, list[str]] = Field(default_factory=dict)
    generators: list[dict[str, Any]]

    @field_validator("endpoint")
    @classmethod
    def _known_endpoint(cls, v: str) -> str:
        if v not in ENDPOINT_SPECS:
            raise ValueError(f"unknown endpoint {v!r}; use one of {', '.join(ENDPOINT_SPECS)}")
        return v
