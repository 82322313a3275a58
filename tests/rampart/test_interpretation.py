"""The shared reading against the reader it must match (aiohttp, yarl) on input written by
others -- every Content-Type, query string, form and multipart body of the CRS 3.3.4
regression tests -- plus the limits: values and depth past them are reported, never
dropped silently and never a RecursionError."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.helpers import parse_content_type as aiohttp_content_type
from aiohttp.test_utils import TestClient, TestServer
from yarl import query_to_pairs

from rampart.interpretation import (
    DEFAULT_LIMITS,
    InterpretationLimits,
    body_charset,
    decode_text,
    looks_like_json,
    nest_pairs,
    param_values,
    parse_content_type,
    parse_pairs,
    read_json,
    read_multipart,
)
from rampart.interpretation.content_type import MAX_PARAMETERS, TOO_MANY_PARAMETERS

CRS_TESTS = Path("/work/shared/crs/v3.3.4/tests/regression/tests")


def _inputs() -> Iterator[dict[str, Any]]:
    for path in sorted(CRS_TESTS.rglob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
        except yaml.YAMLError:
            continue
        for test in (doc or {}).get("tests", []) or []:
            for stage in test.get("stages", []) or []:
                found = (stage or {}).get("stage", {}).get("input")
                if isinstance(found, dict):
                    yield found


def _header(found: dict[str, Any], name: str) -> str | None:
    for key, value in (found.get("headers") or {}).items():
        if str(key).lower() == name:
            return str(value)
    return None


def _data(found: dict[str, Any]) -> str | None:
    data = found.get("data")
    if isinstance(data, list):
        return "\r\n".join(str(d) for d in data)
    return data if isinstance(data, str) else None


CRS_INPUTS = list(_inputs()) if CRS_TESTS.is_dir() else []
needs_crs = pytest.mark.skipif(not CRS_INPUTS, reason="CRS 3.3.4 regression tests not present")

HOSTILE_TYPES = [
    "application/json; charset=utf-16; charset=utf-8",
    "application/json; charset=utf-8; CHARSET=utf-16",
    "multipart/form-data; boundary=a; boundary=b",
    'multipart/form-data; boundary="a;b"; charset=x',
    'application/json;charset="utf-16"',
    "APPLICATION/JSON ; Charset = UTF-8",
    "application/json, text/plain",
    "text/plain; charset=",
    "text/plain; charset*=utf-8''utf-16",
    "application/x-www-form-urlencoded;;charset=latin-1",
    "json",
    "",
    "   ",
    "multipart/form-data; boundary==zz",
]


def _content_types() -> list[str]:
    seen = {t for t in (_header(i, "content-type") for i in CRS_INPUTS) if t is not None}
    return sorted(seen) + HOSTILE_TYPES


@needs_crs
@pytest.mark.parametrize("raw", _content_types())
def test_content_type_reads_as_aiohttp_reads_it(raw: str) -> None:
    media, params = aiohttp_content_type(raw)
    ours = parse_content_type(raw)
    assert (ours.media, dict(ours.params)) == (media, dict(params))
    assert body_charset(ours) == (params.get("charset") or "utf-8")


@pytest.mark.parametrize(
    ("raw", "repeated"),
    [
        ("application/json; charset=utf-16; charset=utf-8", ("charset",)),
        ("application/json; charset=utf-8; CHARSET=utf-8", ("charset",)),
        ("multipart/form-data; boundary=a; boundary=b", ("boundary",)),
        ("multipart/form-data; boundary=a; charset=utf-8", ()),
        ("application/json", ()),
    ],
)
def test_repeated_parameters_are_reported(raw: str, repeated: tuple[str, ...]) -> None:
    parsed = parse_content_type(raw)
    assert parsed.repeated == repeated
    assert parsed.ambiguous is bool(repeated)


def _queries() -> list[str]:
    found: set[str] = set()
    for item in CRS_INPUTS:
        uri = str(item.get("uri", ""))
        if "?" in uri:
            found.add(uri.partition("?")[2])
        data = _data(item)
        if data is not None and (_header(item, "content-type") or "").startswith("application/x-www-form"):
            found.add(data)
    return sorted(found)


@needs_crs
def test_pairs_read_as_yarl_and_aiohttp_read_them() -> None:
    queries = _queries()
    assert len(queries) > 300
    for query in queries:
        assert parse_pairs(query).pairs == query_to_pairs(query), query


def test_pairs_past_the_limit_are_flagged_not_lost_silently() -> None:
    limits = InterpretationLimits(max_values=10)
    text = "&".join(f"k{i}=v" for i in range(25))
    reading = parse_pairs(text, limits)
    assert reading.over_limit
    assert reading.total == 25
    assert [k for k, _ in reading.pairs] == [f"k{i}" for i in range(10)]
    assert not parse_pairs("&".join(["a=1"] * 10), limits).over_limit


def test_nesting_is_qs_style_and_depth_is_reported() -> None:
    pairs = [("a[b][c]", "1"), ("a[b][d]", '{"$ne": 1}'), ("t[]", "x"), ("t[]", "y"), ("z", "1"), ("z", "2")]
    nested = nest_pairs(pairs)
    assert nested.value == {"a": {"b": {"c": "1", "d": {"$ne": 1}}}, "t": ["x", "y"], "z": ["1", "2"]}
    assert not nested.over_depth
    deep = nest_pairs([("a" + "[b]" * 5, "1")], InterpretationLimits(max_depth=2))
    assert deep.over_depth
    assert deep.value == {"a": {"b": {"b": {"[b][b][b]": "1"}}}}


@pytest.mark.parametrize("depth", [10, 1_000, 100_000])
def test_deep_json_is_reported_never_raised(depth: int) -> None:
    reading = read_json("[" * depth + "]" * depth)
    assert reading.over_depth is (depth > DEFAULT_LIMITS.max_depth)
    if depth <= DEFAULT_LIMITS.max_depth:
        padded = read_json("[" * depth + "]" * depth + " " * DEFAULT_LIMITS.max_values)
        assert padded.measured
        assert padded.depth == depth


def test_json_value_count_is_measured() -> None:
    limits = InterpretationLimits(max_values=100)
    assert read_json(json.dumps({"a": list(range(99))}), limits).over_count
    assert not read_json(json.dumps({"a": list(range(50))}), limits).over_count
    assert read_json('{"a": 1', limits).error is not None
    assert read_json('"text"' + " " * 200, limits).values == 1
    short = read_json('{"a": [1, 2]}', limits)
    assert not short.measured
    assert not short.over_count


@pytest.mark.parametrize(
    ("text", "expected"),
    [("{}", True), ("  \n[1]", True), ("a=1", False), ("", False), ('"x"', False)],
)
def test_json_looking(text: str, expected: bool) -> None:
    assert looks_like_json(text) is expected


def test_undecodable_bytes_are_reported() -> None:
    assert decode_text("é".encode(), "utf-8") == ("é", True)
    assert decode_text(b"\xff\xfe{", "utf-8")[1] is False
    assert decode_text(b"x", "no-such-charset") == ("x", False)


def _multipart_bodies() -> list[tuple[str, bytes]]:
    found = []
    for item in CRS_INPUTS:
        ctype = _header(item, "content-type") or ""
        data = _data(item)
        if ctype.startswith("multipart/form-data") and data:
            found.append((ctype, data.encode("utf-8", "surrogateescape")))
    found.append(
        (
            "multipart/form-data; boundary=zz",
            b'--zz\r\nContent-Disposition: form-data; name="a"\r\n\r\none\r\n'
            b'--zz\r\nContent-Disposition: form-data; name="f"; filename="x.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\nfile body\r\n"
            b'--zz\r\nContent-Disposition: form-data; name="b"\r\n'
            b"Content-Type: text/plain; charset=utf-16\r\n\r\n" + "two".encode("utf-16") + b"\r\n--zz--\r\n",
        )
    )
    return found


async def _aiohttp_fields(ctype: str, body: bytes) -> dict[str, list[str]] | None:
    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        out: dict[str, list[str]] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                text = value.filename or ""
            elif isinstance(value, bytes | bytearray):  # a part that is not text/*
                text = bytes(value).decode("utf-8", "replace")
            else:
                text = str(value)
            out.setdefault(key, []).append(text)
        return web.json_response(out)

    app = web.Application()
    app.router.add_post("/", handler)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.post("/", data=body, headers={"Content-Type": ctype})
        if resp.status != 200:
            return None
        fields: dict[str, list[str]] = await resp.json()
        return fields


async def test_multipart_reads_as_aiohttp_reads_it() -> None:
    compared = 0
    for ctype, body in _multipart_bodies():
        theirs = await _aiohttp_fields(ctype, body)
        if theirs is None:  # aiohttp refuses it: the app never sees fields
            continue
        reading = read_multipart(body, parse_content_type(ctype))
        ours: dict[str, list[str]] = {}
        for part in reading.parts:
            if part.name is None:
                continue
            value = part.filename if part.filename is not None else part.text
            ours.setdefault(part.name, []).append(value if value is not None else part.body.decode())
        assert ours == theirs, ctype
        compared += 1
    assert compared >= 2


def test_multipart_limits_and_ambiguity() -> None:
    ctype = parse_content_type("multipart/form-data; boundary=zz")
    part = b'--zz\r\nContent-Disposition: form-data; name="a"; name="b"\r\n\r\nv\r\n'
    reading = read_multipart(part * 3 + b"--zz--\r\n", ctype, InterpretationLimits(max_values=2))
    assert reading.over_limit
    assert len(reading.parts) == 2
    assert reading.ambiguous
    assert reading.parts[0].name is None  # aiohttp refuses a repeated disposition parameter
    assert read_multipart(b"{}", ctype).error == "no parts"
    assert read_multipart(b"x", parse_content_type("multipart/form-data")).error == "no boundary"


def test_a_header_of_many_parameters_is_ambiguous_without_being_read() -> None:
    raw = "application/json; charset=utf-8" + "".join(f"; p{i}=1" for i in range(MAX_PARAMETERS))
    parsed = parse_content_type(raw)
    assert parsed.media == "application/json"
    assert parsed.ambiguous
    assert parsed.repeated == (TOO_MANY_PARAMETERS,)
    few = parse_content_type("application/json; charset=utf-8; p1=1")
    assert not few.ambiguous
    assert few.charset == "utf-8"


@pytest.mark.parametrize(
    ("raw", "name", "expected"),
    [
        ("application/json; charset=utf-16; charset=utf-8", "charset", ("utf-16", "utf-8")),
        ('multipart/form-data; boundary="a;b"; Boundary=c', "boundary", ("a;b", "c")),
        ("text/plain; charset=utf-8; charset=utf-8", "charset", ("utf-8",)),
        ('text/plain; charset="ut\\"f"', "charset", ('ut"f',)),
        ("application/json", "charset", ()),
        (None, "charset", ()),
    ],
)
def test_param_values_lists_every_reading(raw: str | None, name: str, expected: tuple[str, ...]) -> None:
    assert param_values(raw, name) == expected


def test_param_values_does_not_read_a_header_of_many_parameters() -> None:
    hostile = "text/plain" + '; a="' * 5000
    assert param_values(hostile, "a") == ()
    assert param_values('text/plain; a="1"; a=2', "a") == ("1", "2")
