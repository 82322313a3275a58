"""The harness sends each case byte for byte and reads the verdict headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from rampart.attacks.cases import HttpRequest
from rampart.attacks.replay.send import build_url, fetch_effects, make_request_id, parse_verdicts, send
from rampart.requestid import is_valid_request_id


@pytest.fixture
async def echo() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(
            {
                "method": request.method,
                "raw_path": request.raw_path,
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )
        return web.Response(
            text="ok",
            headers={
                "X-Rampart-Waf-Native": "detect; score=5; rules=942100",
                "X-Rampart-Waf-Crs": "allow; score=0; rules=",
                "X-Rampart-Rasp": "block; detections=sql_injection",
            },
        )

    async def effects(request: web.Request) -> web.Response:
        rid = request.query["request_id"]
        return web.json_response({"request_id": rid, "effects": [{"kind": "canary_leak", "detail": rid}]})

    app = web.Application()
    app.router.add_get("/__lab/effects", effects)
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), seen
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("req", "raw_path"),
    [
        (HttpRequest(path="/api/orders", raw_query="id=1%20OR%201=1--"), "/api/orders?id=1%20OR%201=1--"),
        (
            HttpRequest(path="/api/files", raw_query="name=..%252fsecret.txt"),
            "/api/files?name=..%252fsecret.txt",
        ),
        (
            HttpRequest(path="/api/products", query=[("category[$ne]", "x"), ("a", "b c&d")]),
            "/api/products?category[$ne]=x&a=b%20c%26d",
        ),
        (HttpRequest(path="/api/calc", query=[("expr", "1+1")]), "/api/calc?expr=1%2B1"),
        (HttpRequest(path="/api/files/..%2f..%2fetc"), "/api/files/..%2f..%2fetc"),
    ],
)
async def test_request_bytes_exact(
    echo: tuple[str, list[dict[str, Any]]], req: HttpRequest, raw_path: str
) -> None:
    base, seen = echo
    assert str(build_url(base, req)).endswith(raw_path)
    async with aiohttp.ClientSession() as session:
        resp = await send(session, base, req, "case-1.d")
    assert resp.status == 200
    assert seen[-1]["raw_path"] == raw_path


async def test_headers_cookies_body(echo: tuple[str, list[dict[str, Any]]]) -> None:
    base, seen = echo
    req = HttpRequest(
        method="post",
        path="/api/import",
        headers={"User-Agent": "${jndi:x}", "X-Request-ID": "spoofed"},
        cookies={"session": "a'b"},
        content_type="application/yaml",
        body="!!python/object/apply:str ['x']",
    )
    async with aiohttp.ClientSession() as session:
        await send(session, base, req, "case-2.d")
    got = seen[-1]
    assert got["method"] == "POST"
    assert got["headers"]["User-Agent"] == "${jndi:x}"
    assert got["headers"]["Cookie"] == "session=a'b"
    assert got["headers"]["Content-Type"] == "application/yaml"
    assert got["headers"]["X-Request-ID"] == "case-2.d"
    assert got["body"] == b"!!python/object/apply:str ['x']"


async def test_body_without_content_type_sends_none(echo: tuple[str, list[dict[str, Any]]]) -> None:
    base, seen = echo
    async with aiohttp.ClientSession() as session:
        await send(session, base, HttpRequest(method="POST", path="/x", body="a=1"), "case-3.d")
    assert "Content-Type" not in seen[-1]["headers"]


async def test_verdicts_and_effects(echo: tuple[str, list[dict[str, Any]]]) -> None:
    base, _ = echo
    async with aiohttp.ClientSession() as session:
        resp = await send(session, base, HttpRequest(path="/greet"), "case-4.d")
        effects = await fetch_effects(session, base, "case-4.d")
    verdicts, problems = parse_verdicts(resp.headers, ("native", "crs", "rasp"))
    assert problems == []
    assert verdicts["native"].decision == "detect"
    assert verdicts["native"].rules == ("942100",)
    assert verdicts["crs"].flagged is False
    assert verdicts["rasp"].detections == ("sql_injection",)
    assert effects == [{"kind": "canary_leak", "detail": "case-4.d"}]


async def test_transport_error_is_recorded() -> None:
    async with aiohttp.ClientSession() as session:
        resp = await send(session, "http://127.0.0.1:9", HttpRequest(path="/"), "x.d", timeout=2)
    assert resp.status is None
    assert resp.error


@pytest.mark.parametrize(
    ("headers", "layers", "expected"),
    [
        ({"x-rampart-waf": "block; score=10; rules=1"}, ("native",), {"native": "block"}),
        ({"x-rampart-waf": "block; score=10; rules=1"}, ("native", "crs"), {}),
        ({"x-rampart-waf-crs": "detect; score=5; rules=9"}, ("native", "crs"), {"crs": "detect"}),
        ({"x-rampart-rasp": "allow; detections="}, ("rasp",), {"rasp": "allow"}),
    ],
)
def test_parse_verdicts_fallback(
    headers: dict[str, str], layers: tuple[str, ...], expected: dict[str, str]
) -> None:
    verdicts, _ = parse_verdicts(headers, layers)
    assert {k: v.decision for k, v in verdicts.items()} == expected


def test_parse_verdicts_reports_malformed() -> None:
    verdicts, problems = parse_verdicts({"x-rampart-rasp": "maybe; detections="}, ("rasp",))
    assert verdicts == {}
    assert problems
    assert "rasp" in problems[0]


@pytest.mark.parametrize("case_id", ["sqli-0001", "x" * 200, "a.b:c_d-e"])
def test_request_ids_valid_and_deterministic(case_id: str) -> None:
    rid = make_request_id(case_id, "b-waf-rasp", ".f")
    assert is_valid_request_id(rid)
    assert rid == make_request_id(case_id, "b-waf-rasp", ".f")
