"""The shipped rules block (score >= 5 on their own) every framing whose reading the gateway
cannot share with the app -- repeated Content-Type parameters, values or nesting past the
shared limits, a body that fails under its declared type -- and still inspect a JSON body
declared as something else. Each stays switchable per route with the exclusions file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rampart.gateway.engines.native.engine import NativeEngine
from rampart.gateway.model import EngineSettings, RawRequest
from rampart.interpretation import DEFAULT_LIMITS

LOGIN = {"username": "admin", "password": "x"}
NOSQL = {"username": "admin", "password": {"$ne": ""}}


def _post(body: bytes, content_type: str | None, target: str = "/api/login") -> RawRequest:
    headers = (("Content-Type", content_type),) if content_type else ()
    return RawRequest(method="POST", target=target, headers=headers, body=body)


@pytest.fixture(scope="module")
def engine() -> NativeEngine:
    return NativeEngine(EngineSettings(mode="block"))


@pytest.mark.parametrize(
    ("name", "request_"),
    [
        (
            "repeated charset",
            _post(json.dumps(LOGIN).encode("utf-16"), "application/json; charset=utf-16; charset=utf-8"),
        ),
        ("repeated boundary", _post(b"--a\r\n\r\n--a--", "multipart/form-data; boundary=a; boundary=b")),
        (
            "JSON padded",
            _post(
                json.dumps({"pad": list(range(DEFAULT_LIMITS.max_values + 1)), **LOGIN}).encode(),
                "application/json",
            ),
        ),
        (
            "JSON padded as text",
            _post(json.dumps({"pad": list(range(DEFAULT_LIMITS.max_values + 1))}).encode(), "text/plain"),
        ),
        ("JSON nested", _post(("[" * 5000 + "]" * 5000).encode(), "application/json")),
        (
            "JSON nested a little",
            _post(
                json.dumps(
                    {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
                ).encode(),
                "application/json",
            ),
        ),
        ("JSON broken", _post(b'{"username": "admin", "password": {"$ne": ""}', "application/json")),
        (
            "JSON duplicate keys",
            _post(b'{"username": "admin", "password": {"$gt": ""}, "password": "x"}', "application/json"),
        ),
        ("XML broken", _post(b"<a><b></a>", "text/xml")),
        ("multipart without parts", _post(json.dumps(NOSQL).encode(), "multipart/form-data; boundary=zz")),
        (
            "query padded",
            RawRequest(
                method="GET", target="/api/orders?" + "&" * DEFAULT_LIMITS.max_values + "id=1", headers=()
            ),
        ),
        (
            "brackets nested",
            RawRequest(
                method="GET",
                target="/api/products?a" + "[b]" * (DEFAULT_LIMITS.max_depth + 1) + "=1",
                headers=(),
            ),
        ),
    ],
)
def test_unshareable_readings_block_on_their_own(
    engine: NativeEngine, name: str, request_: RawRequest
) -> None:
    verdict = engine.inspect(request_)
    assert verdict.flagged, (name, verdict)
    assert verdict.score >= 5


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/xml", "text/plain", None, "application/json; charset=utf-16"],
)
def test_json_is_inspected_whatever_its_declared_type(engine: NativeEngine, content_type: str | None) -> None:
    encoding = "utf-16" if content_type and "utf-16" in content_type else "utf-8"
    verdict = engine.inspect(_post(json.dumps(NOSQL).encode(encoding), content_type))
    assert verdict.flagged
    assert any(r.startswith("2") for r in verdict.rule_ids), verdict.rule_ids


@pytest.mark.parametrize(
    "request_",
    [
        _post(json.dumps(LOGIN).encode(), "application/json"),
        _post(json.dumps(LOGIN).encode(), "application/json; charset=utf-8"),
        _post(b"username=alice&password=x", "application/x-www-form-urlencoded"),
        _post(json.dumps({"a": list(range(DEFAULT_LIMITS.max_values // 2))}).encode(), "application/json"),
        RawRequest(method="GET", target="/api/products?a[b][c]=1&a[b][d]=2&t[]=1&t[]=2", headers=()),
    ],
)
def test_ordinary_requests_pass(engine: NativeEngine, request_: RawRequest) -> None:
    assert engine.inspect(request_).flagged is False


def test_the_rules_are_switched_off_per_route(tmp_path: Path) -> None:
    path = tmp_path / "exclusions.yaml"
    path.write_text("exclusions:\n  - route: /api/bulk\n    methods: [POST]\n    rule_ids: [1013]\n")
    # no time budget: this test is about exclusions (a garbage collection in a long test
    # process can spend the budget's CPU in the middle of an inspection)
    engine = NativeEngine(EngineSettings(mode="block", exclusions_file=str(path), budget_ms=0))
    body = json.dumps({"rows": list(range(DEFAULT_LIMITS.max_values + 1))}).encode()
    verdict = engine.inspect(_post(body, "application/json", "/api/bulk"))
    assert verdict.flagged is False, verdict.rule_ids
    assert engine.inspect(_post(body, "application/json", "/api/login")).flagged


def test_a_name_decoded_once_more_by_the_app_is_inspected(engine: NativeEngine) -> None:
    double = RawRequest(method="GET", target="/api/products?category%255B%2524ne%255D=x", headers=())
    assert "2001" in engine.inspect(double).rule_ids
    plain = RawRequest(method="GET", target="/api/products?a%2520b=100%2525", headers=())
    assert engine.inspect(plain).flagged is False


def test_a_content_type_of_many_parameters_is_refused(engine: NativeEngine) -> None:
    ctype = "application/json" + "".join(f"; p{i}=1" for i in range(1200))
    verdict = engine.inspect(_post(json.dumps(LOGIN).encode(), ctype))
    assert verdict.flagged
    assert "1014" in verdict.rule_ids
