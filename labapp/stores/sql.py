"""SQL for the lab: SQLite (default, in memory) or PostgreSQL through psycopg 3.

:meth:`SqlBackend.query` runs the statement text it is given -- the lab builds it by
string concatenation, which is the L3/L4 vulnerability. The sink call is the driver's own
``execute`` (``sqlite3.Connection.execute`` / ``psycopg.AsyncConnection.execute``).
"""

from __future__ import annotations

import secrets as _random
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from rampart.labapp import seed
from rampart.labapp.canaries import LabSecrets

__all__ = ["SqlBackend", "SqlError", "open_sql"]

_SCHEMA = (
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, qty INTEGER NOT NULL)",
    "CREATE TABLE secrets (id INTEGER, name TEXT, token TEXT)",
)


class SqlError(Exception):
    """A statement failed; the message is the database's own (error-based SQLi sees it)."""


class SqlBackend(Protocol):
    name: str

    async def query(self, sql: str) -> list[tuple[Any, ...]]: ...

    async def seed(self, lab_secrets: LabSecrets) -> None: ...

    async def close(self) -> None: ...


class SqliteBackend:
    """One in-memory SQLite connection; statements are microseconds, run on the loop."""

    name = "sqlite"

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)

    async def query(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return list(self._conn.execute(sql).fetchall())
        except (sqlite3.Error, sqlite3.Warning, OverflowError, ValueError) as exc:
            raise SqlError(str(exc)) from exc

    async def seed(self, lab_secrets: LabSecrets) -> None:
        for table in ("orders", "secrets"):
            self._conn.execute(f"DROP TABLE IF EXISTS {table}")
        for ddl in _SCHEMA:
            self._conn.execute(ddl)
        self._conn.executemany("INSERT INTO orders (id, item, qty) VALUES (?, ?, ?)", seed.orders())
        self._conn.executemany(
            "INSERT INTO secrets (id, name, token) VALUES (?, ?, ?)", seed.secret_rows(lab_secrets)
        )

    async def close(self) -> None:
        self._conn.close()


class PostgresBackend:
    """psycopg 3 async connection with a per-start schema (dropped on close)."""

    name = "postgresql"

    def __init__(self, conn: Any, schema: str) -> None:
        self._conn = conn
        self.schema = schema

    @classmethod
    async def connect(cls, url: str) -> PostgresBackend:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        schema = f"rampart_lab_{_random.token_hex(6)}"
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"SET search_path TO {schema}")
        return cls(conn, schema)

    async def query(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            cur = await self._conn.execute(sql)
            return list(await cur.fetchall()) if cur.description is not None else []
        except psycopg.Error as exc:
            raise SqlError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc

    async def seed(self, lab_secrets: LabSecrets) -> None:
        async with self._conn.cursor() as cur:
            for table in ("orders", "secrets"):
                await cur.execute(f"DROP TABLE IF EXISTS {table}")
            for ddl in _SCHEMA:
                await cur.execute(ddl)
            await cur.executemany("INSERT INTO orders (id, item, qty) VALUES (%s, %s, %s)", seed.orders())
            await cur.executemany(
                "INSERT INTO secrets (id, name, token) VALUES (%s, %s, %s)", seed.secret_rows(lab_secrets)
            )

    async def close(self) -> None:
        try:
            if not self._conn.closed:
                await self._conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        finally:
            await self._conn.close()


async def _sqlite(_url: str) -> SqlBackend:
    return SqliteBackend()


async def _postgres(url: str) -> SqlBackend:
    return await PostgresBackend.connect(url)


_BACKENDS: dict[str, Callable[[str], Awaitable[SqlBackend]]] = {
    "sqlite": _sqlite,
    "postgresql": _postgres,
    "postgres": _postgres,
}


async def open_sql(url: str | None) -> SqlBackend:
    """The backend for ``url`` (``None`` -> SQLite in memory)."""
    scheme = (url or "sqlite:").split(":", 1)[0].lower()
    try:
        factory = _BACKENDS[scheme]
    except KeyError:
        raise ValueError(
            f"unsupported DATABASE_URL scheme {scheme!r}: use postgresql://... or sqlite"
        ) from None
    return await factory(url or "sqlite:")
