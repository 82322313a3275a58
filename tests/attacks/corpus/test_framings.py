"""The framing placements (content-type mismatch, duplicate charset, padding and nesting
past the shared limits, chunked, gzip) build the request they say, the expansion keeps them
apart from the plain placement, and the harness sends them byte for byte (a real loopback
server records what arrived)."""

from __future__ import annotations

import gzip
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from rampart.attacks.cases import HttpRequest
from rampart.attacks.corpus.expand import fingerprint
from rampart.attacks.mutators import ENDPOINT_SPECS, get_placement, wire_query
from rampart.attacks.replay.send import send
from rampart.interpretation import DEFAULT_LIMITS, read_json

PAYLOAD = {"$ne": None}


def _l1(name: str) -> HttpRequest:
    spec = ENDPOINT_SPECS["L1"]
    return get_placement(name).build(spec, "password", PAYLOAD, {"username": "admin"}, {})


def _document(req: HttpRequest) -> Any:
    data = req.wire_body()
    assert data is not None
    if req.content_encoding == "gzip":
        data = gzip.decompress(data)
    return json.loads(data.decode(req.body_charset or "utf-8"))


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("json_as_form", "application/x-www-form-urlencoded"),
        ("json_as_multipart", "multipart/form-data; boundary=zz"),
        ("json_as_xml", "text/xml"),
        ("json_no_type", None),
        ("json_dup_charset", "application/json; charset=utf-16; charset=utf-8"),
        ("json_chunked", "application/json"),
        ("json_gzip", "application/json"),
        ("json_gzip_chunked", "application/json"),
        ("json_gzip_as_form", "application/x-www-form-urlencoded"),
    ],
)
def test_json_framings_carry_the_same_document(name: str, content_type: str | None) -> None:
    req = _l1(name)
    assert req.content_type == content_type
    assert _document(req) == {"username": "admin", "password": PAYLOAD}
    assert get_placement(name).combines is False


def test_padding_and_nesting_pass_the_shared_limits() -> None:
    padded = read_json(_l1("json_padded").body or "")
    assert padded.over_count
    assert not padded.over_depth
    nested = read_json(_l1("json_nested").body or "")
    assert nested.over_depth
    for req in (_l1("json_padded"), _l1("json_nested")):
        assert _document(req)["password"] == PAYLOAD


def test_framings_are_distinct_requests() -> None:
    names = ["json", *(p for p in ENDPOINT_SPECS["L1"].placements if p.startswith("json_"))]
    prints = {fingerprint(_l1(n)) for n in names}
    assert len(prints) == len(names)


@pytest.mark.parametrize(
    ("name", "value", "check"),
    [
        ("query_padded", "x", lambda q: q.startswith("&" * (DEFAULT_LIMITS.max_values + 1))),
        ("query_nested", "x", lambda q: q.startswith("pad" + "[a]" * (DEFAULT_LIMITS.max_depth + 1))),
        ("query_duplicate", "x", lambda q: q.endswith("category=x&category=1")),
        ("query_duplicate", {"$ne": "x"}, lambda q: q.endswith("category[$ne]=x&category=1")),
    ],
)
def test_query_framings(name: str, value: Any, check: Any) -> None:
    req = get_placement(name).build(ENDPOINT_SPECS["L2"], "category", value, {}, {})
    assert check(wire_query(req)), wire_query(req)


async def test_the_harness_sends_the_framing_as_built() -> None:
    seen: list[tuple[dict[str, str], bytes]] = []

    async def record(request: web.Request) -> web.Response:
        raw = await request.read()  # aiohttp undoes chunked and gzip: compare what it saw
        seen.append((dict(request.headers), raw))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/api/login", record)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as session:
        base = str(server.make_url("/")).rstrip("/")
        for name in ("json_dup_charset", "json_chunked", "json_gzip", "json_gzip_chunked", "json_no_type"):
            req = _l1(name)
            resp = await send(session, base, req, f"frame-{name}")
            assert resp.status == 200
            headers, raw = seen.pop()
            text = raw.decode(req.body_charset or "utf-8")
            assert json.loads(text)["password"] == PAYLOAD
            assert headers.get("Content-Type") == req.content_type
            assert ("Transfer-Encoding" in headers) is req.chunked
            assert (headers.get("Content-Encoding") == "gzip") is (req.content_encoding == "gzip")


@pytest.mark.parametrize(
    ("name", "chunked", "encoding"), [("yaml_chunked", True, None), ("yaml_gzip", False, "gzip")]
)
def test_yaml_framings_carry_the_same_document(name: str, chunked: bool, encoding: str | None) -> None:
    document = '!!python/object/apply:operator.add ["a", "b"]'
    req = get_placement(name).build(ENDPOINT_SPECS["L13"], "body", document, {}, {})
    assert (req.content_type, req.chunked, req.content_encoding) == ("application/yaml", chunked, encoding)
    data = req.wire_body()
    assert data is not None
    assert (gzip.decompress(data) if encoding else data).decode() == document
    assert get_placement(name).combines is False
