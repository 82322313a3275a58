"""The aiohttp middleware on a real server: capture, request ids, 403 on block (even when
the handler swallows it), response XSS (reflected and stored), harness header, bans,
bodies still readable by handlers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from rampart import inprocess
from rampart.incidents import read_incidents
from rampart.inprocess import guard as runtime
from rampart.inprocess.context import current
from rampart.inprocess.frameworks.aiohttp import REQUEST_ID_KEY
from rampart.verdicts import RASP_HEADER, HeaderVerdict, parse_verdict_header

pytestmark = pytest.mark.timeout(60)


def build_app(db_path: Path) -> web.Application:
    def db() -> sqlite3.Connection:
        conn = sqlite3.connect(db_path)
        conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER, item TEXT)")
        conn.execute("CREATE TABLE IF NOT EXISTS comments (text TEXT)")
        return conn

    async def inputs(request: web.Request) -> web.Response:
        body: Any = None
        if request.content_type == "application/json":
            body = await request.json()
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            body = {k: str(v) for k, v in (await request.post()).items()}
        elif request.body_exists:
            body = await request.text()
        ctx = current()
        assert ctx is not None
        return web.json_response(
            {
                "inputs": [[i.source, i.value] for i in ctx.inputs],
                "body": body,
                "request_id": request[REQUEST_ID_KEY],
                "header_id": request.headers.get("X-Request-ID"),
                "context_id": ctx.request_id,
            }
        )

    async def orders(request: web.Request) -> web.Response:
        rows = db().execute(f"SELECT id, item FROM orders WHERE id = {request.query['id']}").fetchall()
        return web.json_response(rows)

    async def swallow(request: web.Request) -> web.Response:
        try:
            db().execute(f"SELECT id FROM orders WHERE id = {request.query['id']}")
        except Exception:  # the app hides errors: the guard must still answer 403
            return web.json_response({"ok": False, "hidden": True})
        return web.json_response({"ok": True})

    async def greet(request: web.Request) -> web.Response:
        return web.Response(text=f"<h1>Hello {request.query.get('name', '')}</h1>", content_type="text/html")

    async def add_comment(request: web.Request) -> web.Response:
        text = (await request.json())["text"]
        conn = db()
        conn.execute("INSERT INTO comments VALUES (?)", (text,))
        conn.commit()
        return web.json_response({"ok": True}, status=201)

    async def comments(request: web.Request) -> web.Response:
        rows = db().execute("SELECT text FROM comments").fetchall()
        return web.Response(
            text="<ul>" + "".join(f"<li>{r[0]}</li>" for r in rows) + "</ul>", content_type="text/html"
        )

    async def stream(request: web.Request) -> web.Response:
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            names = []
            async for part in reader:
                names.append(getattr(part, "name", None))
            return web.json_response({"parts": names})
        return web.json_response({"raw": (await request.content.read()).decode()})

    async def wrapped(request: web.Request) -> web.Response:
        try:
            db().execute(f"SELECT id FROM orders WHERE id = {request.query['id']}")
        except Exception as exc:
            if request.query.get("as") == "http":
                raise web.HTTPInternalServerError(text="db failed") from exc
            raise RuntimeError("db failed") from exc
        return web.json_response({"ok": True})

    async def missing(request: web.Request) -> web.Response:
        raise web.HTTPNotFound(text="nope")

    app = web.Application()
    app.router.add_route("*", "/inputs/{slug}", inputs)
    app.router.add_get("/orders", orders)
    app.router.add_get("/swallow", swallow)
    app.router.add_get("/greet", greet)
    app.router.add_post("/comments", add_comment)
    app.router.add_get("/comments", comments)
    app.router.add_get("/missing", missing)
    app.router.add_post("/stream", stream)
    app.router.add_get("/wrapped", wrapped)
    return app


@pytest.fixture
async def make_client(tmp_path: Path) -> AsyncIterator[Any]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def make(
        mode: str = "block", harness: bool = True, **settings: Any
    ) -> TestClient[web.Request, web.Application]:
        app = build_app(tmp_path / "app.sqlite")
        from rampart.inprocess.config import load_settings

        inprocess.install(
            app,
            mode=mode,  # type: ignore[arg-type]
            harness=harness,
            incidents_path=tmp_path / "incidents.jsonl",
            settings=load_settings(mode=mode, **settings) if settings else None,
        )
        client: TestClient[web.Request, web.Application] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
    assert runtime.active() is None


def _sources(payload: dict[str, Any]) -> dict[str, Any]:
    return {source: value for source, value in payload["inputs"]}


async def test_capture_query_path_cookie_header_json(make_client) -> None:
    client = await make_client()
    resp = await client.post(
        '/inputs/the-slug?category[$ne]=x&tag=a&q={"$gt":""}',
        json={"user": {"name": "bob", "roles": ["a", "b"]}},
        headers={"User-Agent": "ua-test", "Cookie": "session=abc123", "X-Request-ID": "rid-capture"},
    )
    assert resp.status == 200
    payload = await resp.json()
    got = _sources(payload)
    assert got["query.category[$ne]"] == "x"
    assert got["query.category"] == {"$ne": "x"}
    assert got["query.q"] == {"$gt": ""}
    assert got["path.slug"] == "the-slug"
    assert got["cookie.session"] == "abc123"
    assert got["header.user-agent"] == "ua-test"
    assert got["body.user"] == {"name": "bob", "roles": ["a", "b"]}
    assert got["body.user.name"] == "bob"
    assert got["body.user.roles[1]"] == "b"
    assert payload["body"] == {"user": {"name": "bob", "roles": ["a", "b"]}}
    assert payload["request_id"] == payload["header_id"] == "rid-capture"
    assert resp.headers[RASP_HEADER] == "allow; detections="


@pytest.mark.parametrize(
    ("kind", "expected_body"),
    [("form", {"a": "1", "b[c]": "2"}), ("multipart", {"a": "1", "b[c]": "2"}), ("text", "raw text body")],
)
async def test_capture_forms_and_text_and_handler_still_reads(
    make_client, kind: str, expected_body: Any
) -> None:
    client = await make_client()
    if kind == "form":
        resp = await client.post("/inputs/x", data={"a": "1", "b[c]": "2"})
    elif kind == "multipart":
        form = aiohttp.FormData()
        form.add_field("a", "1")
        form.add_field("b[c]", "2")
        form.add_field("file", b"content", filename="up.txt", content_type="text/plain")
        resp = await client.post("/inputs/x", data=form)
    else:
        resp = await client.post("/inputs/x", data=b"raw text body", headers={"Content-Type": "text/plain"})
    payload = await resp.json()
    got = _sources(payload)
    if kind == "text":
        assert got["body"] == "raw text body"
        assert payload["body"] == expected_body
        return
    assert got["body.a"] == "1"
    assert got["body.b"] == {"c": "2"}
    assert {k: v for k, v in payload["body"].items() if k != "file"} == expected_body
    if kind == "multipart":
        assert got["body.file.<filename>"] == "up.txt"


async def test_minted_request_id_is_shared_with_the_app(make_client) -> None:
    client = await make_client()
    payload = await (await client.get("/inputs/x", headers={"X-Request-ID": "bad id with spaces"})).json()
    assert payload["request_id"] == payload["context_id"]
    assert payload["header_id"] == "bad id with spaces"  # headers stay as sent
    assert len(payload["request_id"]) == 32


async def test_block_answers_403_with_incident_id(make_client, tmp_path: Path) -> None:
    client = await make_client()
    resp = await client.get("/orders", params={"id": "1 OR 1=1"}, headers={"X-Request-ID": "rid-sqli"})
    assert resp.status == 403
    assert await resp.json() == {"error": "blocked", "incident": "rid-sqli"}
    assert parse_verdict_header(resp.headers[RASP_HEADER]) == HeaderVerdict(
        "block", detections=("sql_injection",)
    )
    [incident] = read_incidents(tmp_path / "incidents.jsonl")
    assert incident.request_id == "rid-sqli"


async def test_swallowed_block_still_403(make_client) -> None:
    client = await make_client()
    resp = await client.get("/swallow", params={"id": "1 OR 1=1"})
    assert resp.status == 403
    assert (await resp.json())["error"] == "blocked"


async def test_detect_mode_lets_it_through_with_header(make_client) -> None:
    client = await make_client("detect")
    resp = await client.get("/orders", params={"id": "1 OR 1=1"})
    assert resp.status == 200
    assert resp.headers[RASP_HEADER] == "detect; detections=sql_injection"


async def test_reflected_xss_in_response(make_client) -> None:
    client = await make_client()
    bad = await client.get("/greet", params={"name": "<script>alert(1)</script>"})
    assert bad.status == 403
    assert "xss" in bad.headers[RASP_HEADER]
    good = await client.get("/greet", params={"name": "Ada"})
    assert good.status == 200
    assert await good.text() == "<h1>Hello Ada</h1>"


async def test_stored_xss_in_response(make_client) -> None:
    client = await make_client()
    assert (await client.post("/comments", json={"text": "<img src=x onerror=alert(1)>"})).status == 201
    resp = await client.get("/comments")
    assert resp.status == 403
    assert parse_verdict_header(resp.headers[RASP_HEADER]) == HeaderVerdict("block", detections=("xss",))


async def test_http_exception_gets_header(make_client) -> None:
    client = await make_client()
    resp = await client.get("/missing")
    assert resp.status == 404
    assert resp.headers[RASP_HEADER] == "allow; detections="


async def test_no_header_outside_harness(make_client) -> None:
    client = await make_client(harness=False)
    resp = await client.get("/orders", params={"id": "1 OR 1=1"})
    assert resp.status == 403
    assert RASP_HEADER not in resp.headers
    assert set(json.loads(await resp.text())) == {"error", "incident"}


async def test_block_session_bans_the_client(make_client) -> None:
    client = await make_client(
        "block", detectors={"sql": {"action": "block_session"}}, block_session_seconds=60
    )
    assert (await client.get("/orders", params={"id": "1"})).status == 200
    assert (await client.get("/orders", params={"id": "1 OR 1=1"})).status == 403
    banned = await client.get("/orders", params={"id": "1"})
    assert banned.status == 403
    assert banned.headers[RASP_HEADER].startswith("block")


async def test_handler_can_stream_the_body_itself(make_client) -> None:
    client = await make_client()
    resp = await client.post("/stream", data=b"a: 1\nb: [x]\n", headers={"Content-Type": "application/yaml"})
    assert await resp.json() == {"raw": "a: 1\nb: [x]\n"}
    form = aiohttp.FormData()
    form.add_field("a", "1")
    form.add_field("file", b"content", filename="up.txt")
    resp = await client.post("/stream", data=form)
    assert await resp.json() == {"parts": ["a", "file"]}


@pytest.mark.parametrize("how", ["http", "runtime"])
async def test_block_wrapped_in_app_error_still_403(make_client, how: str) -> None:
    client = await make_client()
    resp = await client.get("/wrapped", params={"id": "1 OR 1=1", "as": how})
    assert resp.status == 403
    assert (await resp.json())["error"] == "blocked"
    assert (await client.get("/wrapped", params={"id": "1", "as": how})).status == 200
