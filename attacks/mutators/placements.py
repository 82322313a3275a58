"""Placements: where a payload sits in the request, limited to what each endpoint reads.

A placement turns ``(endpoint, parameter, value, other fields, wire encoders)`` into the
:class:`~rampart.attacks.cases.HttpRequest` the harness sends. ``ENDPOINT_SPECS`` lists, per lab
endpoint, the parameters it reads and the placements that reach them (docs/CONTRACTS.md lab table):
L1 reads only its JSON body; L2..L8 and L12 only the query string; L9..L11 JSON bodies;
L13 a YAML body. The first placement of an endpoint is its default. The *framings*
(``json_as_form`` ... ``query_duplicate``) carry the same payload in ways readers may
disagree about: a declared type the app ignores, a repeated charset, padding or nesting
past the shared limits (:mod:`rampart.interpretation`), chunked transfer, gzip.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from rampart.attacks.cases import ENDPOINTS, HttpRequest
from rampart.attacks.mutators.encoders import dump_json
from rampart.interpretation import DEFAULT_LIMITS
from rampart.registry import Registry

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


# content-type mismatch, duplicate charset, padding and nesting past the shared limits,
# chunked and gzip framings of the JSON bodies and query strings (registered below)
_JSON_FRAMING_NAMES = (
    "json_as_form",
    "json_as_multipart",
    "json_as_xml",
    "json_no_type",
    "json_dup_charset",
    "json_padded",
    "json_nested",
    "json_chunked",
    "json_gzip",
    "json_gzip_chunked",
    "json_gzip_as_form",
)
_YAML_FRAMING_NAMES = ("yaml_chunked", "yaml_gzip")
_QUERY_FRAMING_NAMES = ("query_padded", "query_nested", "query_duplicate")

ENDPOINT_SPECS: dict[str, EndpointSpec] = {
    s.id: s
    for s in (
        _spec("L1", ("username", "password"), ("json", "json_text_plain", *_JSON_FRAMING_NAMES)),
        _spec("L2", ("category",), ("query", "bracket", "json_query", *_QUERY_FRAMING_NAMES)),
        _spec("L3", ("id",), ("query", *_QUERY_FRAMING_NAMES)),
        _spec("L4", ("item",), ("query", *_QUERY_FRAMING_NAMES)),
        _spec("L5", ("file",), ("query", *_QUERY_FRAMING_NAMES)),
        _spec("L6", ("url",), ("query", *_QUERY_FRAMING_NAMES)),
        _spec("L7", ("name",), ("query", *_QUERY_FRAMING_NAMES)),
        _spec("L8", ("name",), ("query", *_QUERY_FRAMING_NAMES)),
        _spec("L9", ("text", "author"), ("json", "json_text_plain", *_JSON_FRAMING_NAMES)),
        _spec("L10", ("message",), ("json", "json_text_plain", *_JSON_FRAMING_NAMES)),
        _spec("L11", ("template",), ("json", "json_text_plain", *_JSON_FRAMING_NAMES)),
        _spec("L12", ("expr",), ("query", *_QUERY_FRAMING_NAMES)),
        _spec("L13", ("body",), ("yaml", "yaml_x", *_YAML_FRAMING_NAMES)),
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
    placements.register(_p.name, _p)


# -- framings: the same payload, carried so that readers may disagree ---------------------
# (docs/THREAT_MODEL.md "Request interpretation"; tests/differential sends each of them)
_PAD = DEFAULT_LIMITS.max_values + 64
_DEEP = DEFAULT_LIMITS.max_depth + 8


def _nest(depth: int) -> Any:
    node: Any = "deep"
    for _ in range(depth):
        node = [node]
    return node


def _json_framing(**framing: Any) -> Callable[..., HttpRequest]:
    """The application/json request of the payload, re-declared / re-encoded by ``framing``
    (``content_type``: the declared type, None for none; ``pad``/``nest``: a sibling key
    before the payload's own; ``body_charset``, ``content_encoding``, ``chunked``)."""
    pad = framing.pop("pad", False)
    nest = framing.pop("nest", False)

    def build(
        spec: EndpointSpec,
        param: str,
        value: Any,
        fields: Mapping[str, Any],
        wires: Mapping[str, Sequence[Wire]],
    ) -> HttpRequest:
        document = _ordered(spec, param, value, fields)
        if pad:
            document = {"pad": list(range(_PAD)), **document}
        if nest:
            document = {"pad": _nest(_DEEP), **document}
        base = _json_body(spec, param, value, fields, wires, content_type="application/json")
        text = dump_json(document) if (pad or nest) else base.body
        return base.model_copy(update={"body": text, **framing})

    return build


def _query_framing(rewrite: Callable[[str, str], str]) -> Callable[..., HttpRequest]:
    """The endpoint's query request (bracket syntax for an object payload), its wire query
    rewritten by ``rewrite(query, param)``."""

    def build(
        spec: EndpointSpec,
        param: str,
        value: Any,
        fields: Mapping[str, Any],
        wires: Mapping[str, Sequence[Wire]],
    ) -> HttpRequest:
        inner = _build_bracket if _is_container(value) else _build_query
        req = inner(spec, param, value, fields, wires)
        return req.model_copy(update={"query": [], "raw_query": rewrite(wire_query(req), param)})

    return build


def _padded_query(query: str, _param: str) -> str:
    return "&" * _PAD + query


def _deep_query(query: str, _param: str) -> str:
    return "pad" + "[a]" * _DEEP + "=1&" + query


def _duplicate_query(query: str, param: str) -> str:
    return f"{query}&{quote(param, safe=_QUERY_SAFE)}=1"


JSON_FRAMINGS: tuple[Placement, ...] = (
    Placement(
        "json_as_form",
        ("json",),
        _any,
        _json_framing(content_type="application/x-www-form-urlencoded"),
        combines=False,
        doc="the JSON body declared as a urlencoded form",
    ),
    Placement(
        "json_as_multipart",
        ("json",),
        _any,
        _json_framing(content_type="multipart/form-data; boundary=zz"),
        combines=False,
        doc="the JSON body declared as multipart (no part in it)",
    ),
    Placement(
        "json_as_xml",
        ("json",),
        _any,
        _json_framing(content_type="text/xml"),
        combines=False,
        doc="the JSON body declared as XML",
    ),
    Placement(
        "json_no_type",
        ("json",),
        _any,
        _json_framing(content_type=None),
        combines=False,
        doc="the JSON body with no Content-Type",
    ),
    Placement(
        "json_dup_charset",
        ("json",),
        _any,
        _json_framing(content_type="application/json; charset=utf-16; charset=utf-8", body_charset="utf-16"),
        combines=False,
        doc="UTF-16 JSON under two charset parameters (aiohttp takes the first)",
    ),
    Placement(
        "json_padded",
        ("json",),
        _any,
        _json_framing(pad=True),
        combines=False,
        doc="a sibling array past the shared value limit before the payload",
    ),
    Placement(
        "json_nested",
        ("json",),
        _any,
        _json_framing(nest=True),
        combines=False,
        doc="a sibling nested past the shared depth limit before the payload",
    ),
    Placement(
        "json_chunked",
        ("json",),
        _any,
        _json_framing(chunked=True),
        combines=False,
        doc="the JSON body with Transfer-Encoding: chunked",
    ),
    Placement(
        "json_gzip",
        ("json",),
        _any,
        _json_framing(content_encoding="gzip"),
        combines=False,
        doc="the JSON body gzip-compressed (Content-Encoding: gzip)",
    ),
    Placement(
        "json_gzip_chunked",
        ("json",),
        _any,
        _json_framing(content_encoding="gzip", chunked=True),
        combines=False,
        doc="the JSON body gzip-compressed and sent chunked (no Content-Length)",
    ),
    Placement(
        "json_gzip_as_form",
        ("json",),
        _any,
        _json_framing(content_type="application/x-www-form-urlencoded", content_encoding="gzip"),
        combines=False,
        doc="the JSON body gzip-compressed and declared as a urlencoded form",
    ),
)


def _yaml_framing(**framing: Any) -> Callable[..., HttpRequest]:
    """The application/yaml request of the payload with ``framing`` applied
    (``content_encoding``, ``chunked``)."""
    plain = _yaml("application/yaml")

    def build(
        spec: EndpointSpec,
        param: str,
        value: Any,
        fields: Mapping[str, Any],
        wires: Mapping[str, Sequence[Wire]],
    ) -> HttpRequest:
        return plain(spec, param, value, fields, wires).model_copy(update=framing)

    return build


YAML_FRAMINGS: tuple[Placement, ...] = (
    Placement(
        "yaml_chunked",
        ("yaml",),
        _is_str,
        _yaml_framing(chunked=True),
        combines=False,
        doc="the YAML body with Transfer-Encoding: chunked",
    ),
    Placement(
        "yaml_gzip",
        ("yaml",),
        _is_str,
        _yaml_framing(content_encoding="gzip"),
        combines=False,
        doc="the YAML body gzip-compressed (Content-Encoding: gzip)",
    ),
)
QUERY_FRAMINGS: tuple[Placement, ...] = (
    Placement(
        "query_padded",
        ("query",),
        _any,
        _query_framing(_padded_query),
        combines=False,
        doc="more '&' separators than the shared value limit before the query",
    ),
    Placement(
        "query_nested",
        ("query",),
        _any,
        _query_framing(_deep_query),
        combines=False,
        doc="a bracket parameter nested past the shared depth limit first",
    ),
    Placement(
        "query_duplicate",
        ("query",),
        _any,
        _query_framing(_duplicate_query),
        combines=False,
        doc="the parameter repeated with a harmless value after the payload",
    ),
)
for _p in (*JSON_FRAMINGS, *YAML_FRAMINGS, *QUERY_FRAMINGS):
    placements.register(_p.name, _p)
