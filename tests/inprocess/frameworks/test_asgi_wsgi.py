"""The ASGI (Starlette under uvicorn) and WSGI (Flask under werkzeug) middleware on real
loopback servers: same capture, block, swallowed-block, XSS and harness behaviour as aiohttp."""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import flask
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from werkzeug.serving import make_server

from rampart import inprocess
from rampart.incidents import read_incidents
from rampart.inprocess import guard as runtime
from rampart.inprocess.config import Mode, load_settings
from rampart.inprocess.context import current
from rampart.inprocess.install import deactivate
from rampart.verdicts import RASP_HEADER, HeaderVerdict, parse_verdict_header

pytestmark = pytest.mark.timeout(60)


def _db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER, item TEXT)")
    return conn


def _inputs() -> list[list[Any]]:
    ctx = current()
    assert ctx is not None
    return [[i.source, i.value] for i in ctx.inputs]


def starlette_app(db_path: Path) -> Starlette:
    async def inputs(request: Request) -> Response:
        body = await request.body()
        return JSONResponse(
            {
                "inputs": _inputs(),
                "body": body.decode("utf-8", "replace"),
                "rid": request.headers["x-request-id"],
            }
        )

    async def orders(request: Request) -> Response:
        rows = (
            _db(db_path).execute(f"SELECT id FROM orders WHERE id = {request.query_params['id']}").fetchall()
        )
        return JSONResponse({"rows": rows})

    def sync_orders(request: Request) -> Response:  # runs in the threadpool
        rows = (
            _db(db_path).execute(f"SELECT id FROM orders WHERE id = {request.query_params['id']}").fetchall()
        )
        return JSONResponse({"rows": rows})

    async def swallow(request: Request) -> Response:
        try:
            _db(db_path).execute(f"SELECT id FROM orders WHERE id = {request.query_params['id']}")
        except Exception:
            return JSONResponse({"hidden": True})
        return JSONResponse({"ok": True})

    async def greet(request: Request) -> Response:
        return HTMLResponse(f"<h1>Hello {request.query_params.get('name', '')}</h1>")

    return Starlette(
        routes=[
            Route("/inputs/{slug}", inputs, methods=["GET", "POST"]),
            Route("/orders", orders),
            Route("/sync-orders", sync_orders),
            Route("/swallow", swallow),
            Route("/greet", greet),
        ]
    )


def flask_app(db_path: Path) -> flask.Flask:
    app = flask.Flask("guarded")

    @app.route("/inputs/<slug>", methods=["GET", "POST"])
    def inputs(slug: str) -> Any:
        body = flask.request.get_data(as_text=True)
        return {"inputs": _inputs(), "body": body, "rid": flask.request.headers["X-Request-ID"]}

    @app.route("/orders")
    def orders() -> Any:
        return {
            "rows": _db(db_path)
            .execute(f"SELECT id FROM orders WHERE id = {flask.request.args['id']}")
            .fetchall()
        }

    app.add_url_rule("/sync-orders", "sync_orders", orders)

    @app.route("/swallow")
    def swallow() -> Any:
        try:
            _db(db_path).execute(f"SELECT id FROM orders WHERE id = {flask.request.args['id']}")
        except Exception:
            return {"hidden": True}
        return {"ok": True}

    @app.route("/greet")
    def greet() -> Any:
        return f"<h1>Hello {flask.request.args.get('name', '')}</h1>"

    return app


def _serve_asgi(app: Any) -> tuple[str, Callable[[], None]]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
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


@pytest.fixture(params=["starlette", "flask"])
def serve(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., httpx.Client]]:
    stops: list[Callable[[], None]] = []
    guards: list[runtime.Guard | None] = []

    def make(mode: Mode = "block", harness: bool = True, **settings: Any) -> httpx.Client:
        incidents = tmp_path / "incidents.jsonl"
        chosen = load_settings(mode=mode, **settings)
        if request.param == "starlette":
            app = inprocess.install(
                starlette_app(tmp_path / "db.sqlite"),
                mode=mode,
                harness=harness,
                incidents_path=incidents,
                settings=chosen,
            )
            base, stop = _serve_asgi(app)
        else:
            fapp = inprocess.install(
                flask_app(tmp_path / "db.sqlite"),
                mode=mode,
                harness=harness,
                incidents_path=incidents,
                settings=chosen,
            )
            base, stop = _serve_wsgi(fapp)
        guard = runtime.active()
        guards.append(guard)
        stops.append(stop)
        return httpx.Client(base_url=base, timeout=10)

    yield make
    for stop in stops:
        stop()
    for guard in guards:
        if guard is not None:
            deactivate(guard)
    assert runtime.active() is None


def test_capture_and_body_still_readable(serve, tmp_path: Path) -> None:
    client = serve()
    resp = client.post(
        "/inputs/slug-1?category[$ne]=x&tag=a",
        json={"user": {"name": "bob"}},
        headers={"User-Agent": "ua-x", "Cookie": "session=abc", "X-Request-ID": "rid-cap"},
    )
    payload = resp.json()
    got = {s: v for s, v in payload["inputs"]}
    assert got["query.category"] == {"$ne": "x"}
    assert got["query.tag"] == "a"
    assert got["path[1]"] == "slug-1"
    assert got["body.user.name"] == "bob"
    assert got["cookie.session"] == "abc"
    assert got["header.user-agent"] == "ua-x"
    assert json.loads(payload["body"]) == {"user": {"name": "bob"}}
    assert payload["rid"] == "rid-cap"
    assert resp.headers[RASP_HEADER] == "allow; detections="


def test_form_and_multipart_capture(serve) -> None:
    client = serve()
    got = {s: v for s, v in client.post("/inputs/x", data={"a": "1", "b[c]": "2"}).json()["inputs"]}
    assert (got["body.a"], got["body.b"]) == ("1", {"c": "2"})
    multi = client.post("/inputs/x", data={"a": "1"}, files={"f": ("up.txt", b"zz", "text/plain")}).json()
    got = {s: v for s, v in multi["inputs"]}
    assert got["body.a"] == "1"
    assert got["body.f.<filename>"] == "up.txt"


def test_minted_request_id_reaches_the_app(serve) -> None:
    client = serve()
    rid = client.get("/inputs/x").json()["rid"]
    assert len(rid) == 32


@pytest.mark.parametrize("path", ["/orders", "/sync-orders", "/swallow"])
def test_block_is_403_with_incident(serve, path: str, tmp_path: Path) -> None:
    client = serve()
    resp = client.get(path, params={"id": "1 OR 1=1"}, headers={"X-Request-ID": "rid-b"})
    assert resp.status_code == 403
    assert resp.json() == {"error": "blocked", "incident": "rid-b"}
    assert parse_verdict_header(resp.headers[RASP_HEADER]) == HeaderVerdict(
        "block", detections=("sql_injection",)
    )
    assert [i.request_id for i in read_incidents(tmp_path / "incidents.jsonl")] == ["rid-b"]
    ok = client.get(path, params={"id": "1"})
    assert ok.status_code == 200


def test_detect_mode_passes(serve) -> None:
    client = serve("detect")
    resp = client.get("/orders", params={"id": "1 OR 1=1"})
    assert resp.status_code == 200
    assert resp.headers[RASP_HEADER] == "detect; detections=sql_injection"


def test_reflected_xss(serve) -> None:
    client = serve(harness=False)
    assert client.get("/greet", params={"name": "<script>alert(1)</script>"}).status_code == 403
    good = client.get("/greet", params={"name": "Ada"})
    assert good.status_code == 200
    assert good.text == "<h1>Hello Ada</h1>"
    assert RASP_HEADER not in good.headers


def _deep(depth: int) -> Any:
    node: Any = "deep"
    for _ in range(depth):
        node = [node]
    return node


def _chunks(body: bytes, size: int = 1 << 16) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "application/json"}, json.dumps({"pad": list(range(20_000))}).encode()),
        ({"Content-Type": "text/plain"}, b"x" * ((1 << 20) + 1)),
        ({"Content-Type": "text/plain"}, lambda: _chunks(b"x" * ((1 << 20) + 1))),
        ({"Content-Type": "application/json"}, b'{"a": "1"'),
        ({"Content-Type": "multipart/form-data; boundary=zz"}, b"a=1"),
        ({"Content-Type": "text/xml"}, b"<r><unclosed></r>"),
        ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, b'{"a": "1"}'),
        ({"Content-Type": "application/json", "Content-Encoding": "br"}, b'{"a": "1"}'),
        (
            {"Content-Type": "text/plain", "Content-Encoding": "gzip"},
            gzip.compress(b"x" * ((1 << 20) + 1)),
        ),
    ],
    ids=[
        "padded-past-capture",
        "too-large",
        "too-large-chunked",
        "json-invalid",
        "multipart-invalid",
        "xml-invalid",
        "not-gzip",
        "unknown-encoding",
        "gzip-bomb",
    ],
)
def test_unreadable_framings_are_blocked(serve, headers: dict[str, str], body: Any) -> None:
    """What capture cannot read whole, or what parses under no reading although its type
    says it should, is flagged: 403 in block mode, never a silent truncation."""
    client = serve()
    resp = client.post("/inputs/x", content=body() if callable(body) else body, headers=headers)
    assert resp.status_code == 403
    assert parse_verdict_header(resp.headers[RASP_HEADER]) == HeaderVerdict("block", detections=("protocol",))


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "application/json; charset=utf-8; charset=utf-16"}, b'{"a": "1"}'),
        ({"Content-Type": "application/json"}, json.dumps({"pad": list(range(5000))}).encode()),
        ({"Content-Type": "application/json"}, json.dumps({"pad": _deep(40)}).encode()),
    ],
    ids=["repeated-charset", "padded", "nested"],
)
@pytest.mark.parametrize("strict", [False, True], ids=["default", "flag_shared_limits"])
def test_framings_read_whole_pass_unless_shared_limits_are_flagged(
    serve, headers: dict[str, str], body: bytes, strict: bool
) -> None:
    """Past the gateway's shared limits but within what the guard reads whole (every charset
    read, 5,000 values, depth 40): nothing is left out, so nothing is flagged -- unless
    ``flag_shared_limits`` asks for the gateway's stricter reading."""
    resp = serve(flag_shared_limits=strict).post("/inputs/x", content=body, headers=headers)
    assert resp.status_code == (403 if strict else 200)


def test_a_chunked_body_is_captured_and_still_readable(serve) -> None:
    client = serve()
    body = json.dumps({"user": {"name": "bob"}}).encode()
    resp = client.post("/inputs/x", content=_chunks(body, 5), headers={"Content-Type": "application/json"})
    payload = resp.json()
    got = {s: v for s, v in payload["inputs"]}
    assert got["body.user.name"] == "bob"
    assert json.loads(payload["body"]) == {"user": {"name": "bob"}}


def test_a_gzip_body_is_captured_decompressed(serve) -> None:
    client = serve()
    body = gzip.compress(json.dumps({"id": "1 OR 1=1"}).encode())
    resp = client.post(
        "/inputs/x", content=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )
    got = {s: v for s, v in resp.json()["inputs"]}
    assert got["body.id"] == "1 OR 1=1"


def test_interpretation_anomalies_can_be_allowed_per_route(serve) -> None:
    options = {"allow_routes": {"/inputs/*": ["json_invalid"]}}
    client = serve(detectors={"interpretation": {"options": options}})
    headers = {"Content-Type": "application/json"}
    assert client.post("/inputs/x", content=b'{"a": "1"', headers=headers).status_code == 200
    assert client.post("/orders?id=1", content=b'{"a": "1"', headers=headers).status_code == 403


def test_json_declared_as_a_form_is_captured(serve) -> None:
    client = serve()
    body = json.dumps({"user": {"$ne": None}}).encode()
    resp = client.post(
        "/inputs/x", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    got = {s: v for s, v in resp.json()["inputs"]}
    assert got["body.user"] == {"$ne": None}
