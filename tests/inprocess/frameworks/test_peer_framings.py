"""The guard in apps it was not written beside: a small Starlette app and a small Flask app,
each with a MongoDB login (SecantusDB through pymongo) and an SQLite order search, read the
way such apps commonly read a body -- the raw bytes, decompressed when the client says gzip
(as a decompressing middleware would), handed to ``json.loads`` whatever the declared type
(``json.loads`` picks UTF-16/32 from the bytes).

Every framing of the issue carries the NoSQL login bypass and the UNION SQL injection: each
must work on the unprotected app (so the test can fail) and be blocked by the guard in block
mode with the effect absent. The same framings carrying benign values must pass the guard
unflagged with the same answer as the unprotected app (a false positive is a failure)."""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from werkzeug.serving import make_server

from rampart import inprocess
from rampart.inprocess import guard as runtime
from rampart.inprocess.install import deactivate
from rampart.interpretation import DEFAULT_LIMITS
from rampart.verdicts import RASP_HEADER, HeaderVerdict, parse_verdict_header

pytestmark = pytest.mark.timeout(120)

SECRET = "tok-peer-1337"
LOGIN_BYPASS = {"username": "admin", "password": {"$ne": None}}
LOGIN_BENIGN = {"username": "admin", "password": "not the password"}
LOGIN_REAL = {"username": "admin", "password": "s3cret-pw"}
SQL_UNION = {"item": "zzz' UNION SELECT id, token FROM secrets --"}
SQL_BENIGN = {"item": "book"}


# -- the apps ------------------------------------------------------------------------------


@dataclass
class Backends:
    mongo_uri: str
    db_path: Path

    def login(self, username: Any, password: Any) -> bool:
        from pymongo import MongoClient

        client: Any = MongoClient(self.mongo_uri, serverSelectionTimeoutMS=5000)
        try:
            users = client["peerframings"]["users"]
            return users.find_one({"username": username, "password": password}) is not None
        finally:
            client.close()

    def orders(self, item: Any) -> list[list[Any]]:
        conn = sqlite3.connect(self.db_path)
        try:
            rows = conn.execute(f"SELECT id, item FROM orders WHERE item = '{item}'").fetchall()
        finally:
            conn.close()
        return [list(r) for r in rows]


def _document(raw: bytes, content_encoding: str | None) -> dict[str, Any]:
    if (content_encoding or "").lower() == "gzip":
        raw = gzip.decompress(raw)
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def starlette_app(backends: Backends) -> Starlette:
    async def login(request: Request) -> Response:
        doc = _document(await request.body(), request.headers.get("content-encoding"))
        ok = await run_in_threadpool(backends.login, doc.get("username"), doc.get("password"))
        return JSONResponse({"ok": ok})

    async def orders(request: Request) -> Response:
        doc = _document(await request.body(), request.headers.get("content-encoding"))
        rows = await run_in_threadpool(backends.orders, doc.get("item", ""))
        return JSONResponse({"rows": rows})

    routes = [Route("/login", login, methods=["POST"]), Route("/orders", orders, methods=["POST"])]
    return Starlette(routes=routes)


def flask_app(backends: Backends) -> flask.Flask:
    app = flask.Flask("peer_framings")

    @app.post("/login")
    def login() -> Any:
        doc = _document(flask.request.get_data(), flask.request.headers.get("Content-Encoding"))
        return {"ok": backends.login(doc.get("username"), doc.get("password"))}

    @app.post("/orders")
    def orders() -> Any:
        doc = _document(flask.request.get_data(), flask.request.headers.get("Content-Encoding"))
        return {"rows": backends.orders(doc.get("item", ""))}

    return app


def _serve_asgi(app: Any) -> tuple[str, Callable[[], None]]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return f"http://127.0.0.1:{port}", stop


def _serve_wsgi(app: Any) -> tuple[str, Callable[[], None]]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(10)

    return f"http://127.0.0.1:{server.server_port}", stop


# -- the framings --------------------------------------------------------------------------

_PAD = DEFAULT_LIMITS.max_values + 64
_DEEP = DEFAULT_LIMITS.max_depth + 8


def _deep(depth: int) -> Any:
    node: Any = "deep"
    for _ in range(depth):
        node = [node]
    return node


def _chunks(body: bytes, size: int = 7) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


Body = bytes | Callable[[], Iterator[bytes]]
Framing = Callable[[dict[str, Any]], tuple[dict[str, str], Body]]


def _typed(content_type: str, encoding: str = "utf-8") -> Framing:
    def frame(doc: dict[str, Any]) -> tuple[dict[str, str], Body]:
        return {"Content-Type": content_type}, json.dumps(doc).encode(encoding)

    return frame


def _padded(doc: dict[str, Any]) -> tuple[dict[str, str], Body]:
    return {"Content-Type": "application/json"}, json.dumps({"pad": list(range(_PAD)), **doc}).encode()


def _padded_object(doc: dict[str, Any]) -> tuple[dict[str, str], Body]:
    padded = {**{f"k{i}": i for i in range(_PAD)}, **doc}
    return {"Content-Type": "application/json"}, json.dumps(padded).encode()


def _nested(doc: dict[str, Any]) -> tuple[dict[str, str], Body]:
    return {"Content-Type": "application/json"}, json.dumps({"pad": _deep(_DEEP), **doc}).encode()


def _chunked(doc: dict[str, Any]) -> tuple[dict[str, str], Body]:
    raw = json.dumps(doc).encode()
    return {"Content-Type": "application/json"}, lambda: _chunks(raw)


def _gzip(doc: dict[str, Any]) -> tuple[dict[str, str], Body]:
    return {"Content-Type": "application/json", "Content-Encoding": "gzip"}, gzip.compress(
        json.dumps(doc).encode()
    )


def _gzip_as_form_chunked(doc: dict[str, Any]) -> tuple[dict[str, str], Body]:
    raw = gzip.compress(json.dumps(doc).encode())
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"}
    return headers, lambda: _chunks(raw, 5)


FRAMINGS: dict[str, Framing] = {
    "json": _typed("application/json"),
    "form-declared": _typed("application/x-www-form-urlencoded"),
    "multipart-declared": _typed("multipart/form-data; boundary=zz"),
    "text-plain": _typed("text/plain"),
    "duplicate-charset": _typed("application/json; charset=utf-16; charset=utf-8", "utf-16"),
    "duplicate-charset-last": _typed("application/json; charset=utf-8; charset=utf-16", "utf-16"),
    "charset-lie": _typed("application/json; charset=utf-8", "utf-16-le"),
    "padded-array": _padded,
    "padded-object": _padded_object,
    "nested": _nested,
    "chunked": _chunked,
    "gzip": _gzip,
    "gzip-form-chunked": _gzip_as_form_chunked,
}


# -- fixtures ------------------------------------------------------------------------------


@dataclass
class Pair:
    plain: httpx.Client
    guarded: httpx.Client


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    from pymongo import MongoClient
    from secantus import SecantusDBServer

    root = tmp_path_factory.mktemp("peer-framings")
    server = SecantusDBServer(port=0, storage_path=str(root / "mongo"), replica_set_name=None)
    server.start()
    try:
        client: Any = MongoClient(server.uri)
        users = client["peerframings"]["users"]
        users.delete_many({})
        users.insert_one({"username": "admin", "password": "s3cret-pw"})
        client.close()
        db_path = root / "orders.sqlite"
        conn = sqlite3.connect(db_path)
        conn.execute("CREATE TABLE orders (id INTEGER, item TEXT)")
        conn.execute("CREATE TABLE secrets (id INTEGER, token TEXT)")
        conn.execute("INSERT INTO orders VALUES (1, 'book'), (2, 'lamp')")
        conn.execute("INSERT INTO secrets VALUES (7, ?)", (SECRET,))
        conn.commit()
        conn.close()
        yield Backends(server.uri, db_path)
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["starlette", "flask"])
def apps(
    request: pytest.FixtureRequest, backends: Backends, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    incidents = tmp_path_factory.mktemp("incidents") / "incidents.jsonl"
    if request.param == "starlette":
        plain_base, stop_plain = _serve_asgi(starlette_app(backends))
        guarded_app = inprocess.install(
            starlette_app(backends), mode="block", harness=True, incidents_path=incidents
        )
        guarded_base, stop_guarded = _serve_asgi(guarded_app)
    else:
        plain_base, stop_plain = _serve_wsgi(flask_app(backends))
        guarded_flask = inprocess.install(
            flask_app(backends), mode="block", harness=True, incidents_path=incidents
        )
        guarded_base, stop_guarded = _serve_wsgi(guarded_flask)
    guard = runtime.active()
    plain = httpx.Client(base_url=plain_base, timeout=30)
    guarded = httpx.Client(base_url=guarded_base, timeout=30)
    try:
        yield Pair(plain, guarded)
    finally:
        plain.close()
        guarded.close()
        stop_plain()
        stop_guarded()
        if guard is not None:
            deactivate(guard)
    assert runtime.active() is None


def _post(client: httpx.Client, path: str, framing: str, doc: dict[str, Any]) -> httpx.Response:
    headers, body = FRAMINGS[framing](doc)
    return client.post(path, content=body() if callable(body) else body, headers=headers)


# -- the tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("framing", FRAMINGS)
def test_nosql_login_bypass_is_blocked_in_every_framing(apps: Pair, framing: str) -> None:
    worked = _post(apps.plain, "/login", framing, LOGIN_BYPASS)
    assert worked.json() == {"ok": True}, f"{framing}: the bypass does not work unprotected"
    resp = _post(apps.guarded, "/login", framing, LOGIN_BYPASS)
    assert resp.status_code == 403, resp.text
    assert parse_verdict_header(resp.headers[RASP_HEADER]) == HeaderVerdict(
        "block", detections=("nosql_injection",)
    )


@pytest.mark.parametrize("framing", FRAMINGS)
def test_sql_union_is_blocked_in_every_framing(apps: Pair, framing: str) -> None:
    worked = _post(apps.plain, "/orders", framing, SQL_UNION)
    assert [7, SECRET] in worked.json()["rows"], f"{framing}: the injection does not work unprotected"
    resp = _post(apps.guarded, "/orders", framing, SQL_UNION)
    assert resp.status_code == 403, resp.text
    assert SECRET not in resp.text
    verdict = parse_verdict_header(resp.headers[RASP_HEADER])
    assert verdict == HeaderVerdict("block", detections=("sql_injection",))


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize(
    ("path", "doc"),
    [("/login", LOGIN_BENIGN), ("/login", LOGIN_REAL), ("/orders", SQL_BENIGN)],
    ids=["wrong-password", "right-password", "order-search"],
)
def test_benign_values_in_every_framing_pass_unflagged(
    apps: Pair, framing: str, path: str, doc: dict[str, Any]
) -> None:
    plain = _post(apps.plain, path, framing, doc)
    resp = _post(apps.guarded, path, framing, doc)
    assert resp.status_code == plain.status_code == 200, resp.text
    assert resp.json() == plain.json()
    assert parse_verdict_header(resp.headers[RASP_HEADER]) == HeaderVerdict("allow")
    if path == "/login":
        assert resp.json() == {"ok": doc is LOGIN_REAL}
    else:
        assert resp.json() == {"rows": [[1, "book"]]}
