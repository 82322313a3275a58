"""NoSQL detector: client-sent operators in MongoDB queries, user code in $where bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rampart.inprocess.detectors import get
from rampart.inprocess.detectors.nosql import detect, has_operator
from tests.inprocess.detectors.helpers import inputs_of, noise


def _login(body: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    return {"username": body["username"], "password": body["password"]}, inputs_of(body=body)


ATTACK_BODIES = [
    {"username": "admin", "password": {"$ne": None}},
    {"username": "admin", "password": {"$ne": "x"}},
    {"username": {"$gt": ""}, "password": {"$gt": ""}},
    {"username": "admin", "password": {"$regex": ".*"}},
    {"username": "admin", "password": {"$exists": True}},
    {"username": {"$in": ["admin", "root"]}, "password": {"$nin": []}},
    {"username": "admin", "password": {"$not": {"$eq": "x"}}},
    {"username": "admin", "password": json.loads('{"$ne": 1}')},
    {"username": "admin", "password": {"$where": "return true"}},
    {"username": "admin", "password": {"$expr": {"$eq": [1, 1]}}},
    {
        "username": "admin",
        "password": {"$function": {"body": "function(){return true}", "args": [], "lang": "js"}},
    },
    {"username": {"$regex": "^adm"}, "password": {"$gte": " "}},
]


@pytest.mark.parametrize("body", ATTACK_BODIES)
def test_login_operator_injection(body: dict[str, Any]) -> None:
    query, inputs = _login(body)
    found = detect(query, [*noise(), *inputs])
    assert found is not None
    assert found.attack_class == "nosql_injection"
    assert found.source is not None
    assert found.source.startswith("body.")


QS_ATTACKS: list[tuple[Any, dict[str, Any]]] = [
    ({"$ne": "internal"}, {"category": {"$ne": "internal"}}),
    ({"$nin": ["books"]}, {"category": {"$nin": ["books"]}}),
    ({"$regex": "^int"}, {"category": {"$regex": "^int"}, "visible": True}),
    ({"$gt": ""}, {"$and": [{"category": {"$gt": ""}}, {"visible": True}]}),
]


@pytest.mark.parametrize(("value", "query"), QS_ATTACKS)
def test_bracket_and_json_values(value: Any, query: dict[str, Any]) -> None:
    assert detect(query, inputs_of(query_category=value)) is not None


def test_whole_body_as_filter() -> None:
    body = {"username": "admin", "password": {"$ne": ""}}
    assert detect(dict(body), inputs_of(body=body)) is not None


def test_user_stage_in_pipeline() -> None:
    stage = {"$lookup": {"from": "users", "localField": "x", "foreignField": "y", "as": "u"}}
    pipeline = [{"$match": {"category": "books"}}, stage]
    assert detect(pipeline, inputs_of(body_stage=stage)) is not None


WHERE_ATTACKS = [
    "x' || '1'=='1",
    "'; return true; var a='",
    "x' || this.password.length > 0 || 'a'=='b",
    "'; while(true){}; '",
]


@pytest.mark.parametrize("value", WHERE_ATTACKS)
def test_where_body_breakout(value: str) -> None:
    query = {"$where": f"this.username == '{value}'"}
    found = detect(query, inputs_of(query_name=value))
    assert found is not None
    assert "JavaScript" in found.reason


def test_where_body_sent_whole() -> None:
    body = "return this.role == 'admin'"
    assert detect({"$where": body}, inputs_of(body_filter=body)) is not None


BENIGN: list[tuple[dict[str, Any], Any]] = [
    ({"username": "admin", "password": "hunter2"}, {"username": "admin", "password": "hunter2"}),
    ({"category": "books"}, {"category": "books"}),
    ({"price": "$12.50"}, {"price": "$12.50"}),
    ({"note": "use $ne to compare"}, {"note": "use $ne to compare"}),
    ({"meta": {"$": 1}}, {"meta": {"$": 1}}),
    ({"meta": {"$5": "five dollars"}}, {"meta": {"$5": "five dollars"}}),
    ({"tags": {"$in": ["a", "b"]}}, {"tags": ["a", "b"]}),
    ({"name": {"$eq": {"$ne": 1}}}, {"name": {"$ne": 1}}),
    ({"doc": {"$literal": {"$gt": 1}}}, {"doc": {"$gt": 1}}),
    ({"$where": "this.username == 'bob'"}, {"name": "bob"}),
    ({"$where": "this.username == 'O\\'Brien'"}, {"name": "O\\'Brien"}),
    ({"qty": {"$gt": 5}}, {"min": "5"}),
    ({"address": {"city": "Paris", "zip": "75001"}}, {"address": {"city": "Paris", "zip": "75001"}}),
]


@pytest.mark.parametrize(("query", "body"), BENIGN)
def test_benign_queries_pass(query: dict[str, Any], body: Any) -> None:
    assert detect(query, [*noise(), *inputs_of(body=body)]) is None


def test_non_query_arguments_pass() -> None:
    assert detect("not a query", inputs_of(body={"$ne": 1})) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"$ne": 1}, True),
        ({"a": [{"b": {"$gt": 1}}]}, True),
        ({"$": 1}, False),
        (["$ne"], False),
        ({"a$b": 1}, False),
    ],
)
def test_has_operator(value: Any, expected: bool) -> None:
    assert has_operator(value) is expected


def test_registered() -> None:
    assert get("nosql") is detect


def test_objects_given_by_the_sink_are_used_as_is() -> None:
    from rampart.inprocess.detectors.nosql import client_objects

    inputs = inputs_of(query_category={"$ne": "x"})
    objects = client_objects(inputs)
    assert [o.value for o in objects] == [{"$ne": "x"}]
    query = {"category": {"$ne": "x"}}
    assert detect(query, inputs, objects=objects) is not None
    assert detect(query, inputs, objects=[]) is None  # nothing client-sent: nothing to match
