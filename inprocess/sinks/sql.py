"""SQL sinks: sqlite3, psycopg 3 (sync and async cursors), asyncpg.

``sqlite3.Connection`` and ``Cursor`` are C types whose methods cannot be replaced, and the
``sqlite3`` audit events never carry SQL text, so ``sqlite3.connect`` is wrapped to build
connections of a guarded subclass (a caller's own ``factory`` is subclassed on the fly).
Connections opened before :func:`patch` stay unguarded. Rows fetched through a guarded
cursor feed the stored-XSS taint (``ctx.db_values``).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from rampart.inprocess import guard
from rampart.inprocess.errors import Blocked
from rampart.inprocess.patching import Patcher, before, version_at_least
from rampart.inprocess.sinks._taint import record_db_values

__all__ = ["GuardedConnection", "GuardedCursor", "patch"]

SINK = "sql"


def _sql_text(query: Any, context: Any = None) -> str | None:
    if isinstance(query, str):
        return query
    if isinstance(query, bytes | bytearray | memoryview):
        return bytes(query).decode("utf-8", "replace")
    as_string = getattr(query, "as_string", None)
    if as_string is not None and context is not None:
        text = as_string(context)
        return text if isinstance(text, str) else None
    return None


def _check(operation: str, query: Any, dialect: str, context: Any = None) -> None:
    """Judge one query; an error extracting its text (a composed query whose ``as_string``
    fails) fails open."""
    try:
        text = _sql_text(query, context)
        if text is not None:
            guard.check(SINK, operation, "sql", text, dialect=dialect)
    except Blocked:
        raise
    except Exception as exc:
        guard.fail_open(f"{SINK}.{operation}", exc)


class GuardedCursor(sqlite3.Cursor):
    """sqlite3 cursor that checks SQL before running it and taints fetched rows."""

    def execute(self, sql: str, parameters: Any = (), /) -> GuardedCursor:
        _check("sqlite3.execute", sql, "sqlite")
        with guard.quiet():
            super().execute(sql, parameters)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> GuardedCursor:
        _check("sqlite3.executemany", sql, "sqlite")
        with guard.quiet():
            super().executemany(sql, seq_of_parameters)
        return self

    def executescript(self, sql_script: str, /) -> GuardedCursor:
        _check("sqlite3.executescript", sql_script, "sqlite")
        with guard.quiet():
            super().executescript(sql_script)
        return self

    def fetchone(self) -> Any:
        row = super().fetchone()
        record_db_values(row)
        return row

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = super().fetchmany(size) if size is not None else super().fetchmany()
        record_db_values(rows)
        return rows

    def fetchall(self) -> list[Any]:
        rows = super().fetchall()
        record_db_values(rows)
        return rows

    def __next__(self) -> Any:
        row = super().__next__()
        record_db_values(row)
        return row


class GuardedConnection(sqlite3.Connection):
    """sqlite3 connection whose cursors (and shortcut ``execute*``) are guarded."""

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory if factory is not None else GuardedCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> Any:
        return self.cursor().executescript(sql_script)


_SUBCLASSES: dict[type[sqlite3.Connection], type[sqlite3.Connection]] = {}


def _guarded_subclass(factory: type[sqlite3.Connection]) -> type[sqlite3.Connection]:
    if factory is sqlite3.Connection:
        return GuardedConnection
    if issubclass(factory, GuardedConnection):
        return factory
    found = _SUBCLASSES.get(factory)
    if found is None:
        found = _SUBCLASSES[factory] = type(f"Guarded{factory.__name__}", (GuardedConnection, factory), {})
    return found


def _make_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def connect(*args: Any, **kwargs: Any) -> Any:
        factory = kwargs.get("factory", sqlite3.Connection)
        if isinstance(factory, type) and issubclass(factory, sqlite3.Connection):
            kwargs["factory"] = _guarded_subclass(factory)
        return original(*args, **kwargs)

    return connect


def _method(operation: str, dialect: str, *, context_is_self: bool = False) -> Callable[[Any], Any]:
    """Wrap a DB-API ``method(self, query, ...)`` (sync or async) with a SQL check."""

    def judge(self: Any, query: Any, *args: Any, **kwargs: Any) -> None:
        text = _sql_text(query, self if context_is_self else None)
        if text is not None:
            guard.check(SINK, operation, "sql", text, dialect=dialect)

    return before(judge, where=f"{SINK}.{operation}")


def _patch_psycopg(patcher: Patcher, module: ModuleType) -> None:
    if not version_at_least("psycopg", (3, 1)):
        return
    for cls in (module.Cursor, module.AsyncCursor, module.ServerCursor, module.AsyncServerCursor):
        for name in ("execute", "executemany"):
            patcher.wrap(cls, name, _method(f"psycopg.{name}", "postgres", context_is_self=True))


def _patch_asyncpg(patcher: Patcher, module: ModuleType) -> None:
    if not version_at_least("asyncpg", (0, 27)):
        return
    conn = module.connection.Connection
    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval", "cursor", "prepare"):
        if hasattr(conn, name):
            patcher.wrap(conn, name, _method(f"asyncpg.{name}", "postgres"))


def patch(patcher: Patcher) -> None:
    def _patch_sqlite(module: ModuleType) -> None:
        patcher.wrap(module, "connect", _make_connect)
        patcher.wrap(module.dbapi2, "connect", _make_connect)

    patcher.when_imported("sqlite3", _patch_sqlite)
    patcher.when_imported("psycopg", lambda m: _patch_psycopg(patcher, m))
    patcher.when_imported("asyncpg", lambda m: _patch_asyncpg(patcher, m))
