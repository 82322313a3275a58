"""Traffic import: a real mitmdump capture and a HAR file become replayable benign cases."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from rampart.attacks.cases import Case
from rampart.attacks.importers import (
    Exchange,
    TrafficImportError,
    exchange_to_case,
    import_file,
    import_traffic,
    write_jsonl,
)
from rampart.attacks.replay.send import send
from rampart.jsonl import read_lines

MITMDUMP = Path(sys.executable).parent / "mitmdump"


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, list[tuple[str, str, str, str]]]]:
    """A small app with a few lab-like routes; records (method, path+query, body, cookie)."""
    seen: list[tuple[str, str, str, str]] = []

    @web.middleware
    async def record(request: web.Request, handler):
        body = await request.text()
        seen.append((request.method, request.path_qs, body, request.headers.get("Cookie", "")))
        return await handler(request)

    async def products(request: web.Request) -> web.Response:
        return web.json_response([{"name": "runner", "category": request.query.get("category")}])

    async def login(request: web.Request) -> web.Response:
        data = await request.json()
        ok = data.get("password") == "correct horse"
        return web.json_response({"ok": ok}, status=200 if ok else 401)

    async def comments(request: web.Request) -> web.Response:
        await request.json()
        return web.json_response({"stored": True}, status=201)

    async def greet(request: web.Request) -> web.Response:
        if request.cookies.get("session") != "abc123":
            return web.Response(status=400, text="no session")
        return web.Response(text=f"Hello {request.query.get('name', '')}")

    app = web.Application(middlewares=[record])
    app.router.add_get("/api/products", products)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/comments", comments)
    app.router.add_get("/greet", greet)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), seen
    finally:
        await server.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def mitmdump_recording(upstream_url: str, out: Path) -> AsyncIterator[str]:
    """A real ``mitmdump -w`` reverse proxy on loopback; its process group is stopped after."""
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        str(MITMDUMP), "-q", "-w", str(out), "--mode", f"reverse:{upstream_url}",
        "--listen-host", "127.0.0.1", "--listen-port", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        async with asyncio.timeout(30):
            while True:
                if proc.returncode is not None:
                    err = await proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(f"mitmdump exited: {err.decode(errors='replace')}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.1)
                    continue
                writer.close()
                break
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


BENIGN_TRAFFIC = [
    ("GET", "/api/products?category=shoes", None, {}),
    ("POST", "/api/login", {"username": "alice", "password": "correct horse"}, {}),
    ("POST", "/api/login", {"username": "alice", "password": "wrong"}, {}),
    ("POST", "/api/comments", {"text": "Great shoes, would buy again."}, {}),
    ("GET", "/greet?name=Alice", None, {"Cookie": "session=abc123"}),
    ("GET", "/nowhere?x=1", None, {}),
]


async def _replay(base: str, cases: list[Case]) -> list[int | None]:
    async with aiohttp.ClientSession() as session:
        return [(await send(session, base, c.request, f"replay-{i}")).status for i, c in enumerate(cases)]


def _statuses(cases: list[Case]) -> list[int]:
    return [int(t.split(":", 1)[1]) for c in cases for t in c.tags if t.startswith("status:")]


@pytest.mark.system
async def test_mitmdump_capture_imports_to_cases_that_replay_alike(upstream, tmp_path: Path) -> None:
    base, seen = upstream
    flows = tmp_path / "flows.out"
    async with mitmdump_recording(base, flows) as proxy, aiohttp.ClientSession() as session:
        for method, target, body, headers in BENIGN_TRAFFIC:
            async with session.request(method, proxy + target, json=body, headers=headers) as resp:
                await resp.read()
    captured = list(seen)
    assert len(captured) == len(BENIGN_TRAFFIC)

    result = import_file(flows)
    cases = result.cases
    assert result.skipped == []
    assert [c.endpoint for c in cases] == ["L2", "L1", "L1", "L9", "L8", "external"]
    assert [c.attack_class for c in cases] == [
        "nosql_injection", "nosql_injection", "nosql_injection", "xss", "xss", None,
    ]  # fmt: skip
    assert {c.label for c in cases} == {"benign"}
    assert {c.provenance for c in cases} == {"import:flows.out"}
    assert _statuses(cases) == [200, 200, 401, 201, 200, 404]
    assert cases[4].request.cookies == {"session": "abc123"}
    assert cases[1].request.content_type == "application/json"
    assert [c.id for c in import_traffic(flows)] == [c.id for c in cases]  # deterministic

    seen.clear()
    assert await _replay(base, cases) == _statuses(cases)
    assert [(m, p, json.loads(b) if b else b, c) for m, p, b, c in seen] == [
        (m, p, json.loads(b) if b else b, c) for m, p, b, c in captured
    ]


def _har(entries: list[dict[str, object]]) -> dict[str, object]:
    return {
        "log": {"version": "1.2", "creator": {"name": "rampart-tests", "version": "1"}, "entries": entries}
    }


def _entry(
    method: str,
    url: str,
    status: int,
    headers: Sequence[tuple[str, str]] = (),
    post: dict[str, str] | None = None,
) -> dict[str, object]:
    request: dict[str, object] = {
        "method": method,
        "url": url,
        "httpVersion": "HTTP/2",
        "headers": [{"name": k, "value": v} for k, v in headers],
        "queryString": [],
        "cookies": [],
    }
    if post is not None:
        request["postData"] = post
    return {"request": request, "response": {"status": status, "headers": [], "content": {}}}


async def test_har_round_trip(upstream, tmp_path: Path) -> None:
    base, seen = upstream
    comment = json.dumps({"text": "Lovely — déjà vu!"})
    har = _har(
        [
            _entry("GET", f"{base}/api/products?category=shoes%20%26%20boots", 200, [(":authority", "x")]),
            _entry(
                "POST", f"{base}/api/comments", 201,
                [("Content-Type", "application/json"), ("Content-Length", "99")],
                {"mimeType": "application/json", "text": comment},
            ),
            _entry(
                "POST", f"{base}/api/login", 200, [],
                {
                    "mimeType": "application/json",
                    "encoding": "base64",
                    "text": base64.b64encode(b'{"username":"a","password":"correct horse"}').decode(),
                },
            ),
            _entry("GET", f"{base}/greet?name=Bob", 200, [("Cookie", "session=abc123; theme=dark")]),
        ]
    )  # fmt: skip
    path = tmp_path / "session.har"
    path.write_text(json.dumps(har), encoding="utf-8")

    cases = import_traffic(path)
    assert [c.endpoint for c in cases] == ["L2", "L9", "L1", "L8"]
    assert cases[0].request.raw_query == "category=shoes%20%26%20boots"
    assert cases[0].request.headers == {}  # pseudo-headers and Host-like fields are not replayed
    assert cases[1].request.body == comment
    assert cases[2].request.content_type == "application/json"
    assert cases[3].request.cookies == {"session": "abc123", "theme": "dark"}
    assert {c.provenance for c in cases} == {"import:session.har"}

    seen.clear()
    assert await _replay(base, cases) == _statuses(cases) == [200, 201, 200, 200]
    assert seen[0][1] == "/api/products?category=shoes%20%26%20boots"
    assert json.loads(seen[1][2]) == json.loads(comment)

    out = tmp_path / "cases.jsonl"
    assert write_jsonl(cases, out) == 4
    reloaded = [Case.model_validate(json.loads(line)) for line in read_lines(out)]
    assert reloaded == cases
    assert {c.source for c in cases} == {"traffic:session.har"}


def test_refused_requests_are_flagged_not_labelled_benign(tmp_path: Path) -> None:
    blocked = _entry("GET", "http://shop.example/api/orders?id=1%20OR%201=1", 403)
    verdict = _entry("GET", "http://shop.example/greet?name=x", 200)
    verdict["response"] = {
        "status": 200,
        "headers": [{"name": "X-Rampart-Waf-Crs", "value": "detect; score=5; rules=941100"}],
    }
    allowed = _entry("GET", "http://shop.example/greet?name=y", 200)
    allowed["response"] = {"status": 200, "headers": [{"name": "X-Rampart-Waf-Crs", "value": "allow"}]}
    path = tmp_path / "refused.har"
    path.write_text(json.dumps(_har([blocked, verdict, allowed])), encoding="utf-8")
    result = import_file(path)
    assert [c.request.raw_query for c in result.cases] == ["name=y"]
    assert len(result.flagged) == 2
    assert "refused.har#0: GET /api/orders: answered 403" in result.flagged[0]
    assert "X-Rampart-Waf-Crs: detect" in result.flagged[1]


def test_non_utf8_body_is_skipped_and_reported(tmp_path: Path) -> None:
    har = _har(
        [
            _entry("GET", "http://127.0.0.1:1/api/orders?id=3", 200),
            _entry("POST", "http://127.0.0.1:1/upload", 200, [], {"encoding": "base64", "text": "//79/A=="}),
        ]
    )
    path = tmp_path / "mixed.har"
    path.write_text(json.dumps(har), encoding="utf-8")
    result = import_file(path)
    assert [c.endpoint for c in result.cases] == ["L3"]
    assert result.skipped == ["mixed.har#1: the request body is not UTF-8 text (4 bytes)"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "the file is empty"),
        (b"\x00\x01garbage that is not a flow", "not a readable mitmproxy flow file"),
        (
            b'{"log": {"entries": [{"request": {"method": "GET"}}]}}',
            r"log\.entries\[0\]\.request\.url: Field required",
        ),
        (b'{"not": "har"}', "log: Field required"),
        (b"{ broken json", "the JSON does not parse"),
        (b'{"log": {"entries": []}}', "holds no HTTP requests"),
    ],
    ids=["empty", "garbage", "har-missing-url", "json-not-har", "bad-json", "no-entries"],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "capture.bin"
    path.write_bytes(content)
    with pytest.raises(TrafficImportError, match=fragment) as info:
        import_traffic(path)
    assert str(path) in str(info.value)


def test_a_har_name_is_read_as_har(tmp_path: Path) -> None:
    path = tmp_path / "broken.har"
    path.write_text("this is not JSON", encoding="utf-8")
    with pytest.raises(TrafficImportError, match=r"broken\.har: not a HAR file, the JSON does not parse"):
        import_traffic(path)


def test_missing_file_is_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such capture file"):
        import_traffic(tmp_path / "nope.har")


@pytest.mark.parametrize(
    ("method", "path", "endpoint", "attack_class"),
    [
        ("POST", "/api/login", "L1", "nosql_injection"),
        ("GET", "/api/orders/search", "L4", "sql_injection"),
        ("GET", "/api/orders/search/", "L4", "sql_injection"),
        ("GET", "/api/%66iles", "L7", "path_traversal"),
        ("GET", "/api/login", "external", None),
        ("DELETE", "/api/comments", "external", None),
    ],
)
def test_endpoint_matching(method: str, path: str, endpoint: str, attack_class: str | None) -> None:
    case = exchange_to_case(Exchange(method, path, None, ()), source="t.har", index=0)
    assert (case.endpoint, case.attack_class) == (endpoint, attack_class)
    assert case.id.startswith("imp-t-00000-")
