"""Capture reads what the app reads: a JSON body reaches the detectors whatever its declared
type or charset, padding and nesting past the shared limits are flagged (and judged by the
``interpretation`` detector: 403 in block mode, logged in detect mode, off by policy), and
nothing past a limit is dropped silently. On a real aiohttp server with a real SQLite sink."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from rampart import inprocess
from rampart.incidents import read_incidents
from rampart.inprocess import guard as runtime
from rampart.inprocess.config import load_settings
from rampart.inprocess.context import UserInput
from rampart.inprocess.detectors.interpretation import ANOMALIES
from rampart.inprocess.errors import GuardConfigError
from rampart.inprocess.frameworks._capture import CAPTURE_LIMITS, MAX_ITEMS, decode_content, raw_body_inputs
from rampart.interpretation import DEFAULT_LIMITS
from rampart.verdicts import RASP_HEADER, parse_verdict_header

pytestmark = pytest.mark.timeout(60)

ATTACK = {"id": "0 OR 1=1"}
Client = TestClient[web.Request, web.Application]


def _app(db_path: Path) -> web.Application:
    async def order(request: web.Request) -> web.Response:
        body = await request.json()  # like the lab: JSON whatever the declared type
        conn = sqlite3.connect(db_path)
        conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER)")
        rows = conn.execute(f"SELECT id FROM orders WHERE id = {body['id']}").fetchall()
        return web.json_response(rows)

    app = web.Application()
    app.router.add_post("/order", order)
    return app


@pytest.fixture
async def make_client(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    clients: list[Client] = []

    async def make(mode: str = "block", **settings: Any) -> Client:
        app = _app(tmp_path / "app.sqlite")
        inprocess.install(
            app,
            mode=mode,  # type: ignore[arg-type]
            harness=True,
            incidents_path=tmp_path / "incidents.jsonl",
            settings=load_settings(mode=mode, **settings),
        )
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
    assert runtime.active() is None


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("application/json", "utf-8"),
        ("application/x-www-form-urlencoded", "utf-8"),
        ("multipart/form-data; boundary=zz", "utf-8"),
        ("text/xml", "utf-8"),
        ("application/json; charset=utf-16", "utf-16"),
        ("application/x-www-form-urlencoded; charset=utf-16", "utf-16"),
    ],
)
async def test_json_reaches_the_detectors_whatever_its_declared_type(
    make_client: Callable[..., Any], content_type: str, encoding: str
) -> None:
    client = await make_client()
    body = json.dumps(ATTACK).encode(encoding)
    resp = await client.post("/order", data=body, headers={"Content-Type": content_type})
    assert resp.status == 403, await resp.text()
    assert parse_verdict_header(resp.headers[RASP_HEADER]).detections == ("sql_injection",)  # type: ignore[union-attr]


async def test_plain_json_still_passes(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    resp = await client.post("/order", json={"id": "7"})
    assert resp.status == 200
    assert resp.headers[RASP_HEADER] == "allow; detections="


async def test_a_repeated_charset_is_read_both_ways(make_client: Callable[..., Any]) -> None:
    """The guard reads a body under every charset the header names (aiohttp takes the first,
    other parsers the last): a benign body passes, and an input only the second charset
    yields is captured all the same."""
    client = await make_client()
    headers = {"Content-Type": "application/json; charset=utf-16; charset=utf-8"}
    resp = await client.post("/order", data=json.dumps({"id": "7"}).encode("utf-16"), headers=headers)
    assert resp.status == 200
    attack = await client.post("/order", data=json.dumps(ATTACK).encode("utf-16"), headers=headers)
    assert attack.status == 403
    out: list[UserInput] = []
    flags: list[str] = []
    raw_body_inputs(headers["Content-Type"], json.dumps(ATTACK).encode(), out, flags=flags)
    assert UserInput("body.id", ATTACK["id"]) in out  # the UTF-8 reading a last-wins app makes
    assert flags == []


async def test_repeated_charset_blocks_with_shared_limits(
    make_client: Callable[..., Any], tmp_path: Path
) -> None:
    client = await make_client(flag_shared_limits=True)
    headers = {"Content-Type": "application/json; charset=utf-16; charset=utf-8"}
    resp = await client.post("/order", data=json.dumps({"id": "7"}).encode("utf-16"), headers=headers)
    assert resp.status == 403
    assert parse_verdict_header(resp.headers[RASP_HEADER]).detections == ("protocol",)  # type: ignore[union-attr]
    [incident] = read_incidents(tmp_path / "incidents.jsonl")
    assert (incident.rule, incident.sink, incident.attack_class) == ("interpretation", "request", "protocol")
    assert "content_type_param_repeated" in incident.evidence


@pytest.mark.parametrize(
    ("content_type", "body", "anomaly"),
    [
        ("application/json", b'{"id": "7"', "json_invalid"),
        ("application/vnd.api+json", b"id=7", "json_invalid"),
        ("multipart/form-data; boundary=zz", b"id=7", "multipart_invalid"),
        ("multipart/form-data", b"--zz\r\n\r\n", "multipart_invalid"),
        ("text/xml", b"<order id='7'>", "xml_invalid"),
        ("application/soap+xml", b"<a></b>", "xml_invalid"),
    ],
)
async def test_a_body_that_fails_under_its_declared_type_is_blocked(
    make_client: Callable[..., Any], tmp_path: Path, content_type: str, body: bytes, anomaly: str
) -> None:
    client = await make_client()
    resp = await client.post("/order", data=body, headers={"Content-Type": content_type})
    assert resp.status == 403
    [incident] = read_incidents(tmp_path / "incidents.jsonl")
    assert (incident.rule, incident.evidence) == ("interpretation", anomaly)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"id": "7"}'),
        ("application/json", b""),
        ("multipart/form-data; boundary=zz", b'{"id": "7"}'),  # JSON under multipart: read as JSON
        (
            "multipart/form-data; boundary=zz",
            b'--zz\r\nContent-Disposition: form-data; name="id"\r\n\r\n7\r\n--zz--\r\n',
        ),
        ("text/xml", b'<?xml version="1.0"?><order id="7">x &amp; y</order>'),
        ("text/xml", b'<!DOCTYPE order><order id="7"/>'),
        ("text/xml", b'{"id": "7"}'),
        ("application/x-www-form-urlencoded", b"id=7&%zz=1"),
        ("text/plain", b"{not json"),
    ],
)
def test_bodies_that_parse_somehow_are_not_flagged(content_type: str, body: bytes) -> None:
    out: list[UserInput] = []
    flags: list[str] = []
    raw_body_inputs(content_type, body, out, flags=flags)
    assert flags == []


def test_json_in_an_encoding_json_loads_detects_is_captured() -> None:
    """Flask's ``get_json`` and Starlette's ``json()`` hand the bytes to ``json.loads``, which
    picks UTF-16/32 from the bytes whatever the declared charset."""
    for encoding in ("utf-16-le", "utf-16-be", "utf-32"):
        out: list[UserInput] = []
        raw_body_inputs("application/json; charset=utf-8", json.dumps(ATTACK).encode(encoding), out)
        assert UserInput("body.id", ATTACK["id"]) in out, encoding


async def test_anomalies_are_logged_in_detect_mode(make_client: Callable[..., Any]) -> None:
    client = await make_client(mode="detect")
    padded = {"pad": list(range(MAX_ITEMS)), "id": "7"}
    resp = await client.post("/order", json=padded)
    assert resp.status == 200
    assert resp.headers[RASP_HEADER] == "detect; detections=protocol"


async def test_policy_turns_the_check_off(make_client: Callable[..., Any]) -> None:
    client = await make_client(detectors={"interpretation": {"enabled": False}}, flag_shared_limits=True)
    headers = {"Content-Type": "application/json; charset=utf-8; charset=utf-8"}
    resp = await client.post("/order", data=b'{"id": "7"}', headers=headers)
    assert resp.status == 200


async def test_an_anomaly_can_be_allowed(make_client: Callable[..., Any]) -> None:
    client = await make_client(detectors={"interpretation": {"options": {"allow": ["too_many_values"]}}})
    padded = {"pad": list(range(MAX_ITEMS)), "id": "7"}
    assert (await client.post("/order", json=padded)).status == 200


def test_bad_interpretation_options_name_the_key() -> None:
    with pytest.raises(GuardConfigError, match=r"allow_routes.*unknown anomaly nope"):
        load_settings(detectors={"interpretation": {"options": {"allow_routes": {"/x": ["nope"]}}}})
    with pytest.raises(GuardConfigError, match=r"options\.allow must be a list"):
        load_settings(detectors={"interpretation": {"options": {"allow": "too_deep"}}})


@pytest.mark.parametrize("shared", [False, True])
async def test_padding_past_the_value_limit_is_blocked(make_client: Callable[..., Any], shared: bool) -> None:
    client = await make_client(flag_shared_limits=shared)
    size = DEFAULT_LIMITS.max_values + 10 if shared else MAX_ITEMS
    padded = {"pad": list(range(size)), "id": "7"}
    resp = await client.post("/order", json=padded)
    assert resp.status == 403
    assert parse_verdict_header(resp.headers[RASP_HEADER]).detections == ("protocol",)  # type: ignore[union-attr]


async def test_padding_within_the_capture_limit_passes(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    padded = {"pad": list(range(DEFAULT_LIMITS.max_values + 10)), "id": "7"}
    assert (await client.post("/order", json=padded)).status == 200
    attack = await client.post("/order", json={"pad": list(range(DEFAULT_LIMITS.max_values + 10)), **ATTACK})
    assert attack.status == 403
    assert parse_verdict_header(attack.headers[RASP_HEADER]).detections == ("sql_injection",)  # type: ignore[union-attr]


def test_padding_is_flagged_and_the_value_after_it_still_captured() -> None:
    out: list[UserInput] = []
    flags: list[str] = []
    body = json.dumps({"pad": list(range(3000)), **ATTACK}).encode()
    raw_body_inputs("text/plain", body, out, flags=flags)
    assert UserInput("body.id", ATTACK["id"]) in out  # past the old 2,000-item cut
    assert flags == []  # 3,001 values: under the shared limit
    many: list[UserInput] = []
    raw_body_inputs("application/json", json.dumps(list(range(MAX_ITEMS + 5))).encode(), many, flags=flags)
    assert flags == ["too_many_values"]


@pytest.mark.parametrize("depth", [CAPTURE_LIMITS.max_depth + 1, 50_000])
def test_deep_nesting_is_flagged_never_raised(depth: int) -> None:
    out: list[UserInput] = []
    flags: list[str] = []
    body = ('{"a": ' + "[" * depth + "]" * depth + ', "id": "x"}').encode()
    raw_body_inputs("application/json", body, out, flags=flags)
    assert flags == ["too_deep"]


def test_a_json_form_field_is_flattened() -> None:
    out: list[UserInput] = []
    body = (
        b'--zz\r\nContent-Disposition: form-data; name="data"\r\nContent-Type: application/json\r\n\r\n'
        b'{"password": {"$ne": null}}\r\n--zz--\r\n'
    )
    raw_body_inputs("multipart/form-data; boundary=zz", body, out)
    assert UserInput("body.data.password", {"$ne": None}) in out


async def _chunked(data: bytes, size: int = 1 << 15) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_a_chunked_body_over_the_limit_is_flagged_not_dropped(make_client: Callable[..., Any]) -> None:
    """No Content-Length to refuse by: aiohttp reads the chunked body, the guard flags that
    it is over ``max_body_bytes`` instead of judging nothing."""
    client = await make_client(max_body_bytes=1000)
    body = json.dumps({"pad": "x" * 2000, "id": "7"}).encode()
    resp = await client.post("/order", data=_chunked(body, 100), headers={"Content-Type": "application/json"})
    assert resp.status == 403
    assert parse_verdict_header(resp.headers[RASP_HEADER]).detections == ("protocol",)  # type: ignore[union-attr]
    headers = {"Content-Type": "application/json"}
    small = await client.post("/order", data=_chunked(b'{"id": "7"}', 3), headers=headers)
    assert small.status == 200


async def test_a_chunked_body_past_the_apps_own_limit_gets_the_apps_answer(
    make_client: Callable[..., Any],
) -> None:
    """Past the app's ``client_max_size`` aiohttp stops reading part-way; the rest of the body
    must not reach the handler as a body of its own: the answer is the app's 413."""
    client = await make_client()
    pad = b" " * (1 << 20)
    headers = {"Content-Type": "application/json"}
    resp = await client.post("/order", data=_chunked(pad + json.dumps(ATTACK).encode()), headers=headers)
    assert resp.status == 413


def test_a_header_naming_many_charsets_is_read_a_bounded_number_of_times() -> None:
    names = ["utf-8", "utf-16", "utf-32", "latin-1", "cp1252", "koi8-r", "big5"]
    header = "application/json; " + "; ".join(f"charset={n}" for n in names)
    out: list[UserInput] = []
    flags: list[str] = []
    raw_body_inputs(header, json.dumps(ATTACK).encode(), out, flags=flags)
    assert flags == ["content_type_param_repeated"]
    assert UserInput("body.id", ATTACK["id"]) in out
    assert len([i for i in out if i.source == "body.id"]) <= 4


def test_a_multipart_body_is_split_once_whatever_the_charsets() -> None:
    body = b'--zz\r\nContent-Disposition: form-data; name="id"\r\n\r\n7\r\n--zz--\r\n'
    out: list[UserInput] = []
    raw_body_inputs("multipart/form-data; boundary=zz; charset=utf-8; charset=latin-1", body, out)
    assert out.count(UserInput("body.id", "7")) == 1


@settings(max_examples=300, deadline=None)
@given(
    content_type=st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-16; charset=utf-8",
            "application/x-www-form-urlencoded; charset=utf-32",
            "multipart/form-data; boundary=zz; boundary=yy",
            "multipart/form-data",
            "text/xml",
            "application/x-yaml; charset=nope",
            "",
        ]
    ),
    raw=st.binary(max_size=512),
    encoding=st.sampled_from([None, "gzip", "deflate", "br", "gzip, gzip", "identity"]),
)
def test_arbitrary_bytes_never_raise(content_type: str, raw: bytes, encoding: str | None) -> None:
    out: list[UserInput] = []
    flags: list[str] = []
    decoded = decode_content(raw, encoding, 1 << 16, flags)
    raw_body_inputs(content_type, raw, out, flags=flags, judge_failure=encoding is None)
    if decoded is not None:
        raw_body_inputs(content_type, decoded, out, flags=flags)
    assert set(flags) <= set(ANOMALIES)


def test_content_codings_are_undone_within_the_limit() -> None:
    import gzip
    import zlib

    body = b'{"id": "7"}'
    flags: list[str] = []
    assert decode_content(gzip.compress(gzip.compress(body)), "gzip, gzip", 100, flags) == body
    assert decode_content(zlib.compress(body), "deflate", 100, flags) == body
    raw_deflate = zlib.compressobj(wbits=-15)
    assert decode_content(raw_deflate.compress(body) + raw_deflate.flush(), "Deflate", 100, flags) == body
    assert decode_content(body, "identity", 100, flags) is None
    assert flags == []
    assert decode_content(gzip.compress(body)[:-6], "gzip", 100, flags) is None
    assert flags == ["encoding_invalid"]
    big: list[str] = []
    assert decode_content(gzip.compress(b"x" * 10_000), "gzip", 1000, big) is None
    assert big == ["body_unread"]
