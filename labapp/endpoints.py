"""The lab's endpoints L1-L13 (docs/CONTRACTS.md "The lab's API"). Vulnerable by design.

Every handler serves benign use normally and passes client values to the real sink as
they came: that is the point. Comments name the lab id; the sink call is the real library
call a sink guard patches.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import stat
import time
from pathlib import Path
from typing import Any

import yaml
from aiohttp import ClientConnectorDNSError, InvalidURL, web
from aiohttp import ClientError as HttpClientError
from bson.errors import BSONError
from pymongo.errors import PyMongoError

from rampart.labapp.activehtml import find_active_html
from rampart.labapp.effects import current_request_id
from rampart.labapp.guard import is_guard_exception
from rampart.labapp.llmsim.server import MODEL_NAME
from rampart.labapp.querystring import parse_query
from rampart.labapp.responses import ClientError, json_object, json_out, required_query
from rampart.labapp.state import STATE, LabState
from rampart.labapp.stores.sql import SqlError

__all__ = ["ROUTES", "add_routes"]

PREVIEW_BYTES = 2048
FILE_LIMIT = 1024 * 1024
SHELL_TIMEOUT = 5.0
SHELL_OUTPUT_LIMIT = 64 * 1024
CALC_BLACKLIST = (
    "import",
    "__",
    "exec",
    "eval",
    "open",
    "os.",
    "compile",
    "subprocess",
    "globals",
    "getattr",
)
YAML_LIMIT = 256 * 1024
COMMENTS_SHOWN = 200


def _state(request: web.Request) -> LabState:
    return request.app[STATE]


def _db_error(exc: BaseException) -> ClientError:
    return ClientError(f"database error: {exc}")


# L1 ----------------------------------------------------------------------------------------
async def login(request: web.Request) -> web.Response:
    """``users.find_one({"username": u, "password": p})`` with u and p as sent (objects too)."""
    st = _state(request)
    body = await json_object(request)
    username, password = body.get("username"), body.get("password")
    if username is None or password is None:
        raise ClientError("username and password are required")
    assert st.mongo is not None
    try:
        user = await st.mongo.users.find_one({"username": username, "password": password})
    except (PyMongoError, BSONError) as exc:
        raise _db_error(exc) from exc
    if user is None:
        return json_out({"ok": False, "error": "invalid username or password"}, status=401)
    if not (isinstance(password, str) and password == user.get("password")):
        st.effects.add(current_request_id(), "auth_bypass", {"username": user.get("username")})
    profile = {k: v for k, v in user.items() if k not in ("_id", "password")}
    return json_out({"ok": True, "token": secrets.token_hex(16), "profile": profile})


# L2 ----------------------------------------------------------------------------------------
async def products(request: web.Request) -> web.Response:
    """``products.find({"category": c})`` with c parsed like Express's qs (objects allowed)."""
    st = _state(request)
    query = parse_query(request.query_string)
    category = query.get("category")
    if category == "internal":
        return json_out({"error": "the internal catalogue is for staff only"}, status=403)
    flt: dict[str, Any] = (
        {"category": category} if category is not None else {"category": {"$ne": "internal"}}
    )
    assert st.mongo is not None
    try:
        items = await st.mongo.products.find(flt, {"_id": 0}).to_list(200)
    except (PyMongoError, BSONError) as exc:
        raise _db_error(exc) from exc
    return json_out({"count": len(items), "products": items})


# L3, L4 ------------------------------------------------------------------------------------
async def _orders(st: LabState, sql: str) -> web.Response:
    assert st.sql is not None
    try:
        rows = await st.sql.query(sql)
    except SqlError as exc:
        raise _db_error(exc) from exc
    orders = [dict(zip(("id", "item", "qty"), row, strict=False)) for row in rows]
    return json_out({"count": len(orders), "orders": orders})


async def order_by_id(request: web.Request) -> web.Response:
    """``SELECT id, item, qty FROM orders WHERE id = <id>`` (numeric, unquoted)."""
    order_id = required_query(request, "id")
    return await _orders(_state(request), "SELECT id, item, qty FROM orders WHERE id = " + order_id)


async def order_search(request: web.Request) -> web.Response:
    """``... WHERE item LIKE '%<item>%'`` (quoted string context)."""
    item = request.query.get("item", "")
    return await _orders(_state(request), "SELECT id, item, qty FROM orders WHERE item LIKE '%" + item + "%'")


# L5 ----------------------------------------------------------------------------------------
async def checksum(request: web.Request) -> web.Response:
    """``sha256sum <file>`` through a shell in the uploads folder; the output is returned."""
    st = _state(request)
    name = required_query(request, "file")
    if "\x00" in name:
        raise ClientError("file name contains a NUL byte")
    proc = await asyncio.create_subprocess_shell(
        f"sha256sum {name}",
        cwd=st.uploads_dir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), SHELL_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return json_out({"error": "checksum timed out", "file": name}, status=504)
    text = out[:SHELL_OUTPUT_LIMIT].decode("utf-8", "replace")
    code = proc.returncode
    if code != 0:
        return json_out(
            {"error": "checksum failed", "file": name, "output": text, "exit_code": code}, status=404
        )
    return json_out({"file": name, "output": text, "exit_code": code})


# L6 ----------------------------------------------------------------------------------------
async def preview(request: web.Request) -> web.Response:
    """GET the URL (redirects followed) through the sandbox; first 2 KB come back."""
    st = _state(request)
    url = required_query(request, "url")
    assert st.http is not None
    try:
        async with st.http.get(url, allow_redirects=True, max_redirects=5) as resp:
            data = await resp.content.read(PREVIEW_BYTES)
            return json_out(
                {
                    "url": str(resp.url),
                    "status": resp.status,
                    "content_type": resp.content_type,
                    "body": data.decode(resp.charset or "utf-8", "replace"),
                }
            )
    except (InvalidURL, ValueError) as exc:
        raise ClientError(f"invalid URL: {exc}") from exc
    except ClientConnectorDNSError as exc:
        raise ClientError(f"could not resolve host: {exc.host}", status=502) from exc
    except TimeoutError as exc:
        raise ClientError("upstream timed out", status=504) from exc
    except HttpClientError as exc:
        raise ClientError(f"fetch failed: {type(exc).__name__}: {exc}", status=502) from exc


# L7 ----------------------------------------------------------------------------------------
def _inside(path: str, root: Path) -> bool:
    real = os.path.realpath(path)
    return real == str(root) or real.startswith(str(root) + os.sep)


async def files(request: web.Request) -> web.Response:
    """``open(docs_dir/name)``. The traversal works up to the lab's own data folder (so
    ``../secret.txt`` is reachable); the host's own files are answered as missing."""
    st = _state(request)
    name = request.query.get("name")
    if name is None:
        listing = sorted(str(p.relative_to(st.docs_dir)) for p in st.docs_dir.rglob("*") if p.is_file())
        return json_out({"files": listing})
    path = os.path.join(st.docs_dir, name)
    try:
        f = open(path, "rb")  # noqa: ASYNC230, SIM115
    except ValueError as exc:
        raise ClientError(f"invalid file name: {exc}") from exc
    except IsADirectoryError as exc:
        raise ClientError(f"{name!r} is a directory") from exc
    except OSError as exc:
        raise ClientError(f"no such document: {name!r}", status=404) from exc
    with f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode) or not _inside(path, st.data_dir):
            raise ClientError(f"no such document: {name!r}", status=404)
        data = f.read(FILE_LIMIT)
    return web.Response(body=data, content_type="text/plain", charset="utf-8")


# L8 ----------------------------------------------------------------------------------------
async def greet(request: web.Request) -> web.Response:
    """``name`` goes into the HTML unescaped."""
    name = request.query.get("name", "guest")
    html = (
        "<!doctype html><html><head><title>Welcome</title></head><body>"
        f"<h1>Hello, {name}!</h1><p>Welcome to the Rampart Shop.</p></body></html>"
    )
    return web.Response(text=html, content_type="text/html")


# L9 ----------------------------------------------------------------------------------------
async def add_comment(request: web.Request) -> web.Response:
    """Store ``text`` as-is in MongoDB; active HTML in it is the ``stored_payload`` effect."""
    st = _state(request)
    body = await json_object(request)
    text = body.get("text")
    if not isinstance(text, str) or not text:
        raise ClientError("'text' must be a non-empty string")
    author = body.get("author", "anonymous")
    if not isinstance(author, str):
        raise ClientError("'author' must be a string")
    assert st.mongo is not None
    try:
        result = await st.mongo.comments.insert_one({"text": text, "author": author, "created": time.time()})
    except (PyMongoError, BSONError) as exc:
        raise _db_error(exc) from exc
    active = find_active_html(text)
    if active:
        st.effects.add(
            current_request_id(),
            "stored_payload",
            {"found": active[:10], "comment_id": str(result.inserted_id)},
        )
    return json_out({"ok": True, "id": str(result.inserted_id)}, status=201)


async def list_comments(request: web.Request) -> web.Response:
    """The comments as JSON (for clients; the HTML page is ``GET /comments``)."""
    st = _state(request)
    assert st.mongo is not None
    docs = await st.mongo.comments.find({}, {"_id": 0}).sort("created", -1).to_list(COMMENTS_SHOWN)
    return json_out({"count": len(docs), "comments": docs})


async def comments_page(request: web.Request) -> web.Response:
    """The newest comments, oldest first, rendered unescaped (the stored XSS)."""
    st = _state(request)
    assert st.mongo is not None
    newest = await st.mongo.comments.find({}, {"_id": 0}).sort("created", -1).to_list(COMMENTS_SHOWN)
    docs = newest[::-1]
    items = "".join(f"<li><b>{d.get('author', '')}</b>: {d.get('text', '')}</li>" for d in docs)
    html = (
        "<!doctype html><html><head><title>Comments</title></head><body>"
        f"<h1>Customer comments</h1><ul>{items}</ul></body></html>"
    )
    return web.Response(text=html, content_type="text/html")


# L10 ---------------------------------------------------------------------------------------
async def chat(request: web.Request) -> web.Response:
    """The official ``openai`` client against the loopback simulator; the system prompt
    holds a secret."""
    st = _state(request)
    body = await json_object(request)
    message = body.get("message")
    if not isinstance(message, str) or not message:
        raise ClientError("'message' must be a non-empty string")
    import openai

    try:
        completion = await st.llm.chat.completions.create(
            model=MODEL_NAME,
            messages=[{"role": "system", "content": st.prompt}, {"role": "user", "content": message}],
        )
    except openai.OpenAIError as exc:
        raise ClientError(f"assistant unavailable: {type(exc).__name__}", status=502) from exc
    return json_out({"reply": completion.choices[0].message.content})


# L11 ---------------------------------------------------------------------------------------
async def render(request: web.Request) -> web.Response:
    """``Environment().from_string(template).render()``; the rendered text comes back."""
    st = _state(request)
    body = await json_object(request)
    template = body.get("template")
    if not isinstance(template, str):
        raise ClientError("'template' must be a string")
    try:
        output = st.templates.from_string(template).render(shop="Rampart Shop", user={"name": "guest"})
    except Exception as exc:
        if is_guard_exception(exc):
            raise
        raise ClientError(f"template error: {type(exc).__name__}: {exc}") from exc
    return json_out({"output": output})


# L12 ---------------------------------------------------------------------------------------
async def calc(request: web.Request) -> web.Response:
    """``eval(expr)`` behind a naive substring blacklist."""
    expr = required_query(request, "expr")
    lowered = expr.lower()
    for word in CALC_BLACKLIST:
        if word in lowered:
            raise ClientError(f"expression not allowed (contains {word!r})")
    try:
        result = eval(expr, {"math": math})
    except Exception as exc:
        if is_guard_exception(exc):
            raise
        raise ClientError(f"cannot evaluate: {type(exc).__name__}: {exc}") from exc
    return json_out({"expr": expr, "result": str(result)})


# L13 ---------------------------------------------------------------------------------------
async def import_yaml(request: web.Request) -> web.Response:
    """``yaml.unsafe_load(body)``; the loaded data is echoed as JSON."""
    raw = await request.content.read(YAML_LIMIT + 1)
    if len(raw) > YAML_LIMIT:
        raise ClientError("YAML document too large", status=413)
    try:
        data = yaml.unsafe_load(raw)
    except Exception as exc:
        if is_guard_exception(exc):
            raise
        raise ClientError(f"invalid YAML: {type(exc).__name__}: {exc}") from exc
    return json_out({"imported": data})


ROUTES: tuple[tuple[str, str, Any], ...] = (
    ("POST", "/api/login", login),
    ("GET", "/api/products", products),
    ("GET", "/api/orders", order_by_id),
    ("GET", "/api/orders/search", order_search),
    ("GET", "/api/checksum", checksum),
    ("GET", "/api/preview", preview),
    ("GET", "/api/files", files),
    ("GET", "/greet", greet),
    ("POST", "/api/comments", add_comment),
    ("GET", "/api/comments", list_comments),
    ("GET", "/comments", comments_page),
    ("POST", "/api/chat", chat),
    ("POST", "/api/render", render),
    ("GET", "/api/calc", calc),
    ("POST", "/api/import", import_yaml),
)


def add_routes(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
