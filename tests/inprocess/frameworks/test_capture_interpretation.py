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

import inprocess
from inprocess import guard as runtime
from inprocess.config import load_settings
from inprocess.context import UserInput
from inprocess.frameworks._capture import MAX_ITEMS, raw_body_inputs
from rampart.incidents import read_incidents
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


async def test_repeated_charset_blocks_in_block_mode(make_client: Callable[..., Any], tmp_path: Path) -> None:
    client = await make_client()
    headers = {"Content-Type": "application/json; charset=utf-16; charset=utf-8"}
    resp = await client.post("/order", data=json.dumps({"id": "7"}).encode("utf-16"), headers=headers)
    assert resp.status == 403
    assert parse_verdict_header(resp.headers[RASP_HEADER]).detections == ("protocol",)  # type: ignore[union-attr]
    [incident] = read_incidents(tmp_path / "incidents.jsonl")
    assert (incident.rule, incident.sink, incident.attack_class) == ("interpretation", "request", "protocol")
    assert "content_type_param_repeated" in incident.evidence


async def test_anomalies_are_logged_in_detect_mode(make_client: Callable[..., Any]) -> None:
    client = await make_client(mode="detect")
    headers = {"Content-Type": "application/json; charset=utf-8; charset=utf-8"}
    resp = await client.post("/order", data=b'{"id": "7"}', headers=headers)
    assert resp.status == 200
    assert resp.headers[RASP_HEADER] == "detect; detections=protocol"


async def test_policy_turns_the_check_off(make_client: Callable[..., Any]) -> None:
    client = await make_client(detectors={"interpretation": {"enabled": False}})
    headers = {"Content-Type": "application/json; charset=utf-8; charset=utf-8"}
    resp = await client.post("/order", data=b'{"id": "7"}', headers=headers)
    assert resp.status == 200


async def test_padding_past_the_value_limit_is_blocked(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    padded = {"pad": list(range(DEFAULT_LIMITS.max_values + 10)), "id": "7"}
    resp = await client.post("/order", json=padded)
    assert resp.status == 403
    assert parse_verdict_header(resp.headers[RASP_HEADER]).detections == ("protocol",)  # type: ignore[union-attr]


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


@pytest.mark.parametrize("depth", [DEFAULT_LIMITS.max_depth + 1, 50_000])
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
