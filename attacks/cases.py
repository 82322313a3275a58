"""Corpus cases as data: one model shared by the corpus loader, mutators, harness and report.

A case is a full HTTP request aimed at a lab endpoint (docs/CONTRACTS.md L1-L13), a label (attack
or benign), and for attacks the effect that proves the exploit worked: an oracle kind
(``auth_bypass``, ``canary_leak``, ``internal_contact``, ``stored_payload``) and/or a
marker string that appears in the response only if the payload's code ran.
"""

from __future__ import annotations

import gzip
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rampart.classes import KnownAttackClass

__all__ = ["BUILTIN_SOURCE", "ENDPOINTS", "Case", "Expect", "HttpRequest", "OracleKind"]

BUILTIN_SOURCE = "rampart"

OracleKind = Literal["auth_bypass", "canary_leak", "internal_contact", "stored_payload"]

# docs/CONTRACTS.md lab table: endpoint id -> (method, path, class)
ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "L1": ("POST", "/api/login", "nosql_injection"),
    "L2": ("GET", "/api/products", "nosql_injection"),
    "L3": ("GET", "/api/orders", "sql_injection"),
    "L4": ("GET", "/api/orders/search", "sql_injection"),
    "L5": ("GET", "/api/checksum", "command_injection"),
    "L6": ("GET", "/api/preview", "ssrf"),
    "L7": ("GET", "/api/files", "path_traversal"),
    "L8": ("GET", "/greet", "xss"),
    "L9": ("POST", "/api/comments", "xss"),
    "L10": ("POST", "/api/chat", "prompt_injection"),
    "L11": ("POST", "/api/render", "ssti"),
    "L12": ("GET", "/api/calc", "code_injection"),
    "L13": ("POST", "/api/import", "deserialization"),
}


class HttpRequest(BaseModel):
    """The request exactly as the harness sends it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = "GET"
    path: str  # path only, may hold percent-escapes exactly as to be sent
    query: list[tuple[str, str]] = Field(default_factory=list)  # sent in order, not re-encoded
    raw_query: str | None = None  # when set, sent verbatim instead of ``query``
    headers: dict[str, str] = Field(default_factory=dict)
    cookies: dict[str, str] = Field(default_factory=dict)
    content_type: str | None = None
    body: str | None = None  # the body text as sent (JSON text, YAML, form, multipart)
    # how the body text travels: encoded in this charset (default UTF-8), gzip-compressed
    # with ``Content-Encoding: gzip``, and/or with ``Transfer-Encoding: chunked``
    body_charset: str | None = None
    content_encoding: Literal["gzip"] | None = None
    chunked: bool = False

    def wire_body(self) -> bytes | None:
        """The body bytes as sent (charset applied, then compression)."""
        if self.body is None:
            return None
        data = self.body.encode(self.body_charset or "utf-8")
        return gzip.compress(data, mtime=0) if self.content_encoding == "gzip" else data

    def wire_headers(self) -> dict[str, str]:
        """Headers the body's framing needs besides Content-Type."""
        return (
            {"Content-Encoding": "gzip"} if self.content_encoding == "gzip" and self.body is not None else {}
        )

    @field_validator("method")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class Expect(BaseModel):
    """What proves the exploit worked (attacks only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    oracle: OracleKind | None = None
    marker: str | None = None  # appears in the response body only if the payload's code ran

    @model_validator(mode="after")
    def _one(self) -> Expect:
        if self.oracle is None and self.marker is None:
            raise ValueError("an attack's expect needs an oracle kind or a marker")
        return self


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.:-]*$")
    label: Literal["attack", "benign"]
    # None: benign traffic of no class
    attack_class: KnownAttackClass | None = Field(default=None, alias="class")
    endpoint: str  # "L1".."L13", or "external" for imported traffic of another app
    request: HttpRequest
    base_payload: str | None = None  # id of the base payload an attack case was expanded from
    placement: str = "default"  # where the payload sits: query, json, form, multipart, header...
    encodings: list[str] = Field(default_factory=list)
    expect: Expect | None = None
    hard: bool = False  # benign cases built to look like attacks
    provenance: str = "rampart"
    source: str = Field(default=BUILTIN_SOURCE, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/+@-]*$")
    tags: list[str] = Field(default_factory=list)
    setup: list[HttpRequest] = Field(default_factory=list)  # requests sent first (e.g. stored XSS)
    follow_up: HttpRequest | None = None  # request whose response shows the effect (GET /comments)
    notes: str = ""

    @field_validator("endpoint")
    @classmethod
    def _known_endpoint(cls, v: str) -> str:
        if v not in ENDPOINTS and v != "external":
            raise ValueError(f"unknown endpoint {v!r}; use one of {', '.join(ENDPOINTS)} or 'external'")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Case:
        builtin = self.source == BUILTIN_SOURCE
        if self.label == "attack" and self.attack_class is None and builtin:
            raise ValueError("attack cases need a 'class'")
        if self.label == "attack" and self.expect is None and builtin:
            raise ValueError("attack cases need 'expect' (oracle kind or marker)")
        if self.label == "benign" and self.expect is not None:
            raise ValueError("benign cases carry no 'expect'")
        return self

    @property
    def graded(self) -> bool:
        """True when the oracle can say whether this attack worked (it has an ``expect``)."""
        return self.expect is not None

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_defaults=True)
