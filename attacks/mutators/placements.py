"""Placements: where a payload sits in the request, limited to what each endpoint reads.

A placement turns ``(endpoint, parameter, value, other fields, wire encoders)`` into the
:class:`~attacks.model.HttpRequest` the harness sends. ``ENDPOINT_SPECS`` lists, per lab
endpoint, the parameters it reads and the placements that reach them (DESIGN.md lab table):
L1 reads only its JSON body; L2..L8 and L12 only the query string; L9..L11 JSON bodies;
L13 a YAML body. The first placement of an endpoint is its default.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from attacks.model import ENDPOINTS, HttpRequest
from attacks.mutators.encoders import dump_json
from attacks.mutators.registry import Registry

__all__ = [
    "ENDPOINT_SPECS",
    "EndpointSpec",
    "Placement",
    "encode_query",
    "get_placement",
    "placements",
    "wire_query",
]

Wire = Callable[[str], str]
# the harness's once-encoding of ``HttpRequest.query`` (attacks/replay/send.py)
_QUERY_SAFE = "!$'()*,/:;@[]~-._"


def encode_query(pairs: Sequence[tuple[str, str]]) -> str:
    """Encode query pairs once, escaping only what would break the query's structure."""
    return "&".join(f"{quote(k, safe=_QUERY_SAFE)}={quote(v, safe=_QUERY_SAFE)}" for k, v in pairs)


def wire_query(req: HttpRequest) -> str:
    """The query string exactly as it goes on the wire."""
    return req.raw_query if req.raw_query is not None else encode_query(req.query)


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    id: str
    method: str
    path: str
    attack_class: str
    params: tuple[str, ...]
    placements: tuple[str, ...]


def _spec(eid: str, params: tuple[str, ...], places: tuple[str, ...]) -> EndpointSpec:
    method, path, cls = ENDPOINTS[eid]
    return EndpointSpec(eid, method, path, cls, params, places)


ENDPOINT_SPECS: dict[str, EndpointSpec] = {
    s.id: s
    for s in (
        _spec("L1", ("username", "password"), ("json", "json_text_plain")),
        _spec("L2", ("category",), ("query", "bracket", "json_query")),
        _spec("L3", ("id",), ("query",)),
        _spec("L4", ("item",), ("query",)),
        _spec("L5", ("file",), ("query",)),
        _spec("L6", ("url",), ("query",)),
        _spec("L7", ("name",), ("query",)),
        _spec("L8", ("name",), ("query",)),
        _spec("L9", ("text", "author"), ("json", "json_text_plain")),
        _spec("L10", ("message",), ("json", "json_text_plain")),
        _spec("L11", ("template",), ("json", "json_text_plain")),
        _spec("L12", ("expr",), ("query",)),
        _spec("L13", ("body",), ("yaml", "yaml_x")),
    )
}


@dataclass(frozen=True, slots=True)
class Placement:
    """One way to carry a payload. ``wires`` are the carriers wire encoders may rewrite;
    ``combines`` False means the placement is itself the evasion and is sent bare."""

    name: str
    wires: tuple[str, ...]
    accepts: Callable[[Any], bool]
    build: Callable[[EndpointSpec, str, Any, Mapping[str, Any], Mapping[str, Sequence[Wire]]], HttpRequest]
    combines: bool = True
    doc: str = ""


placements: Registry[Placement] = Registry("placement")


def get_placement(name: str) -> Placement:
    """The placement called ``name``; the error lists the known placements."""
    return placements.get(name)


def _apply(fns: Sequence[Wire], text: str) -> str:
    for fn in fns:
        text = fn(text)
    return text


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    return str(v)


def _ordered(spec: EndpointSpec, param: str, value: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in spec.params:
        if p == param:
            out[p] = value
        elif p in fields:
            out[p] = fields[p]
    for k, v in fields.items():
        out.setdefault(k, v)
    out.setdefault(param, value)
    return out


def _query_request(
    spec: EndpointSpec,
    pairs: list[tuple[str, str]],
    payload_keys: set[int],
    wires: Mapping[str, Sequence[Wire]],
) -> HttpRequest:
    fns = wires.get("query", ())
    if not fns:
        return HttpRequest(method=spec.method, path=spec.path, query=pairs)
    parts = []
    for i, (k, v) in enumerate(pairs):
        if i in payload_keys:
            parts.append(f"{_apply(fns, k)}={_apply(fns, v)}")
        else:
            parts.append(encode_query([(k, v)]))
    return HttpRequest(method=spec.method, path=spec.path, raw_query="&".join(parts))


def _build_query(
    spec: EndpointSpec, param: str, value: Any, fields: Mapping[str, Any], wires: Mapping[str, Sequence[Wire]]
) -> HttpRequest:
    data = _ordered(spec, param, value, fields)
    pairs = [(k, _scalar(v)) for k, v in data.items()]
    payload = {i for i, (k, _v) in enumerate(pairs) if k == param}
    return _query_request(spec, pairs, payload, wires)


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    """qs-style bracket pairs: ``{"$in": ["a", "b"]}`` -> ``p[$in][]=a&p[$in][]=b``."""
    if isinstance(value, dict):
        out: list[tuple[str, str]] = []
        for k, v in value.items():
            out.extend(_flatten(f"{prefix}[{k}]", v))
        return out
    if isinstance(value, list):
        out = []
        for v in value:
            out.extend(_flatten(f"{prefix}[]", v))
        return out
    return [(prefix, _scalar(value))]


def _build_bracket(
    spec: EndpointSpec, param: str, value: Any, fields: Mapping[str, Any], wires: Mapping[str, Sequence[Wire]]
) -> HttpRequest:
    pairs: list[tuple[str, str]] = []
    payload: set[int] = set()
    for k, v in _ordered(spec, param, value, fields).items():
        if k == param:
            flat = _flatten(k, v)
            payload.update(range(len(pairs), len(pairs) + len(flat)))
            pairs.extend(flat)
        else:
            pairs.append((k, _scalar(v)))
    return _query_request(spec, pairs, payload, wires)


def _build_json_query(
    spec: EndpointSpec, param: str, value: Any, fields: Mapping[str, Any], wires: Mapping[str, Sequence[Wire]]
) -> HttpRequest:
    text = _apply(wires.get("json", ()), json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    return _build_query(spec, param, text, fields, {"query": wires.get("query", ())})


def _json_body(
    spec: EndpointSpec,
    param: str,
    value: Any,
    fields: Mapping[str, Any],
    wires: Mapping[str, Sequence[Wire]],
    *,
    content_type: str,
) -> HttpRequest:
    text = _apply(wires.get("json", ()), dump_json(_ordered(spec, param, value, fields)))
    return HttpRequest(method=spec.method, path=spec.path, content_type=content_type, body=text)


def _build_json(
    spec: EndpointSpec, param: str, value: Any, fields: Mapping[str, Any], wires: Mapping[str, Sequence[Wire]]
) -> HttpRequest:
    return _json_body(spec, param, value, fields, wires, content_type="application/json")


def _build_json_text_plain(
    spec: EndpointSpec, param: str, value: Any, fields: Mapping[str, Any], wires: Mapping[str, Sequence[Wire]]
) -> HttpRequest:
    return _json_body(spec, param, value, fields, wires, content_type="text/plain")


def _yaml(content_type: str) -> Callable[..., HttpRequest]:
    def build(
        spec: EndpointSpec,
        param: str,
        value: Any,
        fields: Mapping[str, Any],
        wires: Mapping[str, Sequence[Wire]],
    ) -> HttpRequest:
        text = _apply(wires.get("yaml", ()), str(value))
        return HttpRequest(method=spec.method, path=spec.path, content_type=content_type, body=text)

    return build


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_container(v: Any) -> bool:
    return isinstance(v, dict | list)


def _any(_v: Any) -> bool:
    return True


for _p in (
    Placement("query", ("query",), _is_str, _build_query, doc="the parameter in the query string"),
    Placement(
        "bracket",
        ("query",),
        _is_container,
        _build_bracket,
        doc="qs bracket syntax: category[$ne]=x, category[$in][]=a",
    ),
    Placement(
        "json_query",
        ("json", "query"),
        _is_container,
        _build_json_query,
        doc='a JSON text as the query value: category={"$ne":"x"}',
    ),
    Placement("json", ("json",), _any, _build_json, doc="application/json body"),
    Placement(
        "json_text_plain",
        ("json",),
        _any,
        _build_json_text_plain,
        combines=False,
        doc="the same JSON body sent as text/plain (content-type confusion)",
    ),
    Placement("yaml", ("yaml",), _is_str, _yaml("application/yaml"), doc="application/yaml body"),
    Placement(
        "yaml_x",
        ("yaml",),
        _is_str,
        _yaml("application/x-yaml"),
        combines=False,
        doc="the YAML body under the legacy application/x-yaml type",
    ),
):
    placements.add(_p.name, _p)
