"""The capture fast paths give exactly what the generic code gives: ``flatten_json`` against
``context.flatten``, query capture with and without bracket keys or JSON values; the
response check skips non-HTML responses by their raw header and still judges HTML."""

from __future__ import annotations

from typing import Any

import pytest

from inprocess.context import UserInput, bind, flatten
from inprocess.errors import Blocked
from inprocess.frameworks._capture import flatten_json, parse_brackets, query_inputs
from tests.inprocess.conftest import GuardFactory, request_ctx

JSON_VALUES: list[Any] = [
    {"username": "alice", "password": "wonderland"},
    {"a": [1, 2.5, True, None, {"$ne": ""}], "b": {"c": {"d": []}}, "1": "x"},
    {"q": {"$where": "this.a == 1"}},
    [],
    [[["deep"]]],
    "text",
    0,
    -1.5,
    None,
    False,
    {str(i): list(range(30)) for i in range(100)},
]


@pytest.mark.parametrize("value", JSON_VALUES)
@pytest.mark.parametrize("max_items", [2000, 7, 1])
def test_flatten_json_matches_flatten(value: Any, max_items: int) -> None:
    generic: list[UserInput] = []
    fast: list[UserInput] = []
    flatten("body", value, generic, max_items=max_items)
    flatten_json("body", value, fast, max_items=max_items)
    assert fast == generic


def _reference_query(pairs: list[tuple[str, str]]) -> list[UserInput]:
    """The capture before the fast paths: every value JSON-probed, brackets always parsed."""
    import json

    out: list[UserInput] = []
    for key, value in pairs:
        out.append(UserInput("query.<key>", key))
        out.append(UserInput(f"query.{key}", value))
        stripped = value.strip()
        if stripped[:1] in ("{", "["):
            try:
                decoded = json.loads(stripped)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict | list):
                flatten(f"query.{key}", decoded, out)
    for key, nested in parse_brackets(pairs).items():
        flatten(f"query.{key}", nested, out)
    return out


@pytest.mark.parametrize(
    "pairs",
    [
        [("category", "books")],
        [("user[$ne]", "x"), ("user[$gt]", "")],
        [("tags[]", "a"), ("tags[]", "b"), ("plain", "1")],
        [("f", '  {"$ne": null}'), ("g", "[1, 2]"), ("h", "{not json")],
        [("", ""), ("a[", "b"), ("[x]", "y")],
    ],
)
def test_query_inputs_match_reference(pairs: list[tuple[str, str]]) -> None:
    out: list[UserInput] = []
    query_inputs("query", pairs, out)
    assert out == _reference_query(pairs)


@pytest.mark.parametrize(
    ("header", "judged"),
    [
        ("text/html", True),
        ("TEXT/HTML; charset=utf-8", True),
        ("application/json", False),
        ("text/plain; charset=utf-8", False),
    ],
)
def test_only_html_responses_are_judged(make_guard: GuardFactory, header: str, judged: bool) -> None:
    from aiohttp import web

    from inprocess.frameworks.aiohttp import _judge_response

    guard = make_guard(sinks=())
    payload = "<script>alert(1)</script>"
    ctx = request_ctx(name=payload)
    response = web.Response(body=f"<p>{payload}</p>".encode(), headers={"Content-Type": header})
    with bind(ctx):
        if judged:
            with pytest.raises(Blocked):
                _judge_response(guard, ctx, response)
        else:
            _judge_response(guard, ctx, response)
    assert bool(ctx.detections) is judged
