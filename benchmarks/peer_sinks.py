"""The vulnerable operations the peer-style apps (Flask, Starlette) share, written the way
application code writes them: string-built SQL, a MongoDB filter taken from JSON, a shell
call, a file read, an outbound fetch, a template built from input, ``eval``, and unsafe
YAML / pickle loads; plus benign handlers that make the interpreter and libraries compile
text (an exception logged with its traceback, dataclasses and pydantic models built at
request time, a template compiled per request).

Every operation stays on this machine: files under ``workdir``, SQLite in ``workdir``,
MongoDB on a loopback SecantusDB, outbound calls to whatever the URL names (the benchmark
and the tests only hand it loopback destinations), shell commands that only ``echo``.

:func:`install_hosts` puts a hosts-file style table in front of ``socket.getaddrinfo`` so that
lab names resolve without DNS; call it before the guard or a peer protection is installed.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import math
import os
import pickle
import socket
import sqlite3
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pydantic
import requests
import yaml

__all__ = ["PAGE_TEMPLATE", "Sinks", "install_hosts"]

log = logging.getLogger("benchmarks.peer")
PAGE_TEMPLATE = "<h1>{{ title }}</h1>{% for item in items %}<li>{{ item | upper }}</li>{% endfor %}"


def install_hosts(table: Mapping[str, str]) -> Callable[[], None]:
    """Resolve the names in ``table`` (lower-case name -> IP) without DNS; other names go to
    the resolver in place. Returns the function that restores it."""
    previous = socket.getaddrinfo
    entries = {name.lower().rstrip("."): ip for name, ip in table.items()}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower().rstrip(".") in entries:
            host = entries[name.lower().rstrip(".")]
        return previous(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo

    def restore() -> None:
        socket.getaddrinfo = previous

    return restore


@dataclass
class Sinks:
    """One app's vulnerable operations over its own working directory."""

    workdir: Path
    mongo_uri: str | None = None
    pg_dsn: str | None = None
    _mongo: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        files = self.workdir / "files"
        files.mkdir(parents=True, exist_ok=True)
        (files / "readme.txt").write_text("public notes\n", encoding="utf-8")
        (self.workdir / "secret.txt").write_text("top secret\n", encoding="utf-8")
        with sqlite3.connect(self.workdir / "shop.sqlite") as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
            if conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0:
                conn.executemany(
                    "INSERT INTO items (name, price) VALUES (?, ?)", [("apple", 1.5), ("pear", 2.0)]
                )

    # -- injection sinks ---------------------------------------------------------------

    def sql(self, name: str) -> list[list[Any]]:
        conn = sqlite3.connect(self.workdir / "shop.sqlite")
        try:
            query = f"SELECT id, name, price FROM items WHERE name = '{name}'"  # noqa: S608 - the sink
            rows = conn.execute(query).fetchall()
        finally:
            conn.close()
        return [list(r) for r in rows]

    def pg(self, name: str) -> list[list[Any]]:
        import psycopg

        if self.pg_dsn is None:
            raise LookupError("no PostgreSQL configured")
        with psycopg.connect(self.pg_dsn) as conn:
            query = f"SELECT 1, '{name}'::text WHERE '{name}' <> ''"
            rows = conn.execute(query).fetchall()
        return [list(r) for r in rows]

    def mongo_login(self, username: Any, password: Any) -> bool:
        if self.mongo_uri is None:
            raise LookupError("no MongoDB configured")
        if self._mongo is None:
            from pymongo import MongoClient

            client: Any = MongoClient(self.mongo_uri, serverSelectionTimeoutMS=5000)
            users = client["peer"]["users"]
            if users.count_documents({}) == 0:
                users.insert_one({"username": "alice", "password": "wonderland"})
            self._mongo = users
        return self._mongo.find_one({"username": username, "password": password}) is not None

    def shell(self, host: str) -> str:
        done = subprocess.run(f"echo ping {host}", shell=True, capture_output=True, text=True, check=False)  # noqa: S602
        return done.stdout

    def read_file(self, name: str) -> str:
        return (self.workdir / "files" / name).read_text(encoding="utf-8", errors="replace")

    def fetch(self, url: str) -> str:
        return requests.get(url, timeout=3).text

    def fetch_httpx(self, url: str) -> str:
        import httpx

        return httpx.get(url, timeout=3, follow_redirects=True).text

    async def fetch_httpx_async(self, url: str) -> str:
        import httpx

        async with httpx.AsyncClient(timeout=3, follow_redirects=True) as client:
            return (await client.get(url)).text

    def greet(self, name: str) -> str:
        return jinja2.Environment(autoescape=True).from_string("<p>Hello " + name + "</p>").render()

    def calc(self, expr: str) -> str:
        return str(eval(expr, {"math": math}))  # noqa: S307 - the code-injection sink under test

    def yaml_load(self, document: str) -> str:
        return repr(yaml.unsafe_load(document))

    def unpickle(self, encoded: str) -> str:
        return repr(pickle.loads(base64.b64decode(encoded)))  # noqa: S301 - the deserialization sink

    # -- benign: the interpreter and libraries compile text -------------------------

    def log_failure(self, count: str) -> str:
        try:
            return str(int(count) * 2)
        except ValueError:
            log.exception("not a number: %r", count)
            return "not a number"

    def build_model(self, field_name: str, value: str) -> dict[str, Any]:
        if not field_name.isidentifier():
            raise ValueError("field must be an identifier")
        row_type = dataclasses.make_dataclass("Row", [(field_name, str)])
        model = pydantic.create_model("Item", **{field_name: (str, ...)})  # type: ignore[call-overload]
        validated = model.model_validate({field_name: value})
        return {"row": dataclasses.asdict(row_type(value)), "model": validated.model_dump()}

    def page(self, title: str, items: list[str]) -> str:
        env = jinja2.Environment(loader=jinja2.DictLoader({"page.html": PAGE_TEMPLATE}), autoescape=True)
        return env.get_template("page.html").render(title=title, items=items)

    def secret_path(self) -> str:
        return os.fspath(self.workdir / "secret.txt")
