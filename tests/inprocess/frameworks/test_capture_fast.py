"""The capture fast paths give exactly what the generic code gives: ``flatten_json`` against
``context.flatten``, query capture with and without bracket keys or JSON values; the
response check skips non-HTML responses by their raw header and still judges HTML."""

from __future__ import annotations

from typing import Any

import pytest

from rampart.inprocess.context import UserInput, bind, flatten
from rampart.inprocess.errors import Blocked
from rampart.inprocess.frameworks._capture import flatten_json, parse_brackets, query_inputs
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
    """Every raw pair, then every object or list a ``qs``-style app builds from the pairs
    (the lab's reading), flattened by the generic code."""
    out: list[UserInput] = []
    for key, value in pairs:
        out.append(UserInput("query.<key>", key))
        out.append(UserInput(f"query.{key}", value))
    for key, nested in parse_brackets(pairs).items():
        if isinstance(nested, dict | list):
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
        [("category", "a"), ("category", "b")],
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

    from rampart.inprocess.frameworks.aiohttp import _judge_response

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


def _objects(out: list[UserInput]) -> list[tuple[str, Any]]:
    return [(i.source, i.value) for i in out if isinstance(i.value, dict | list)]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        # double-encoded bracket key: category%5B%24ne%5D after the framework's one decoding
        ([("category%5B%24ne%5D", "books")], [("query.category", {"$ne": "books"})]),
        # double-encoded JSON value
        ([("category", "%7B%22%24ne%22%3Anull%7D")], [("query.category", {"$ne": None})]),
        # triple-encoded: one more round still finds it
        ([("category%255B%2524gt%255D", "")], [("query.category", {"$gt": ""})]),
    ],
)
def test_percent_escapes_left_after_decoding_are_captured_decoded(
    pairs: list[tuple[str, str]], expected: list[tuple[str, Any]]
) -> None:
    out: list[UserInput] = []
    query_inputs("query", pairs, out)
    assert _objects(out) == expected
    assert out[: 2 * len(pairs)] == [  # the values as the framework decoded them come first
        UserInput(source, text)
        for key, value in pairs
        for source, text in (("query.<key>", key), (f"query.{key}", value))
    ]


@pytest.mark.parametrize(
    "pairs",
    [
        [("discount", "100% off")],  # a percent sign that is no escape
        [("q", "50%")],
        [("name", "caf\u00e9")],
    ],
)
def test_plain_values_are_captured_once(pairs: list[tuple[str, str]]) -> None:
    out: list[UserInput] = []
    query_inputs("query", pairs, out)
    assert out == _reference_query(pairs)


@pytest.mark.parametrize(
    ("content_type", "raw", "objects"),
    [
        ("text/plain", b'{"username": "admin", "password": {"$ne": null}}', 2),
        ("", b'  [{"$gt": ""}]', 2),
        ("application/octet-stream", b'{"a": 1}', 1),
        ("text/plain", b"just words {not json", 0),
        ("text/plain", b"[1, 2", 0),
    ],
)
def test_json_looking_bodies_are_flattened_whatever_the_content_type(
    content_type: str, raw: bytes, objects: int
) -> None:
    from rampart.inprocess.frameworks._capture import body_inputs

    out: list[UserInput] = []
    body_inputs(content_type, raw, out)
    assert out[0] == UserInput("body", raw.decode())  # the raw text stays an input
    assert len(_objects(out)) == objects
