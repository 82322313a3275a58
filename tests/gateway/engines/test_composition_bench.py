"""The composition measurement (benchmarks/waf_composition.py): requests built from corpus
cases as the harness sends them, and tallies that follow each rule set's verdict."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.waf_composition import COLUMNS, case_request, measure_source
from rampart.attacks.cases import Case, HttpRequest
from rampart.gateway.engines.native.combined import CombinedEngine
from rampart.gateway.model import EngineSettings
from tests.conftest import need

CLASSES = {"L1": "nosql_injection", "L4": "sql_injection"}


def _case(label: str, request: HttpRequest, endpoint: str = "L4") -> Case:
    return Case.model_validate(
        {
            "id": f"t.{label}",
            "label": label,
            "class": {"L1": "nosql_injection", "L4": "sql_injection"}[endpoint]
            if label == "attack"
            else None,
            "endpoint": endpoint,
            "request": request,
            "expect": {"oracle": "canary_leak"} if label == "attack" else None,
        }
    )


def test_case_request_sends_query_cookies_and_body_as_the_harness_does() -> None:
    case = _case(
        "benign",
        HttpRequest(
            method="POST",
            path="/api/comments",
            query=[("a", "b c")],
            cookies={"sid": "1"},
            content_type="application/json",
            body=json.dumps({"text": "hi"}),
            content_encoding="gzip",
        ),
        endpoint="L9",
    )
    request = case_request(case)
    assert request.method == "POST"
    assert request.target == "/api/comments?a=b%20c"
    assert request.header("Cookie") == "sid=1"
    assert request.header("Content-Type") == "application/json"
    assert request.body == b'{"text": "hi"}'  # gzip decoded, as the gateway reads it
    assert request.header("Content-Length") == str(len(request.body))


@pytest.fixture(scope="module")
def engines(crs_dir: Path) -> Iterator[tuple[CombinedEngine, object]]:
    need(importlib.util.find_spec("libmodsecurity") is not None, "libmodsecurity (the crs extra)")
    from rampart.gateway.engines.crs.engine import CrsEngine

    settings = EngineSettings(mode="block", confirm=("sqli", "xss", "rce"))
    native, crs = CombinedEngine(settings), CrsEngine(settings, processes=0)
    yield native, crs
    native.close()
    crs.close()


def test_tallies_follow_each_rule_set(engines: tuple[CombinedEngine, object]) -> None:
    native, crs = engines
    attack = _case("attack", HttpRequest(path="/api/orders/search", query=[("item", "1' OR '1'='1")]))
    login = json.dumps({"username": "admin", "password": {"$ne": "x"}})
    nosql = _case(
        "attack",
        HttpRequest(method="POST", path="/api/login", content_type="application/json", body=login),
        endpoint="L1",
    )
    prose = _case(
        "benign", HttpRequest(path="/api/orders/search", query=[("item", "union was a great select")])
    )
    items = [(c.label, "g", case_request(c)) for c in (attack, nosql, prose)]
    tallies = measure_source(native, crs, iter(items))  # type: ignore[arg-type]
    attacks, benign = tallies[("attack", "all")], tallies[("benign", "all")]
    assert attacks.total == 2
    assert benign.total == 1
    assert set(attacks.flagged) == set(COLUMNS)
    assert attacks.flagged["native"] == 2
    assert attacks.flagged["rules"] == 2
    assert attacks.flagged["seclang"] == attacks.flagged["crs"] == 1  # CRS has no NoSQL operator rule
    assert benign.flagged["seclang"] == benign.flagged["crs"] == benign.flagged["native"] == 1
    assert benign.flagged["native+confirm"] == benign.flagged["crs+confirm"] == 0
    assert benign.flagged["rules"] == 0
