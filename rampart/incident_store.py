"""Reading and filtering incidents from either store: the JSONL file or PostgreSQL.

:class:`PostgresIncidentStore` keeps incidents (the shared schema of
:mod:`rampart.incidents`) in one table it creates on first use; the gateway writes to it
in batches off the request path (through :class:`rampart.gateway.audit.AuditLog`), ``rampart
incidents`` reads it. :func:`query_file` applies the same :class:`IncidentFilter` to a JSONL
file, so both stores answer the same questions.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rampart.incidents import Incident
from rampart.jsonl import JsonLine, read_lines

if TYPE_CHECKING:
    from psycopg.sql import Composable

__all__ = [
    "DEFAULT_TABLE",
    "IncidentFilter",
    "PostgresIncidentStore",
    "parse_time",
    "query_file",
]

DEFAULT_TABLE = "rampart_incidents"
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_COLUMNS = (
    "time",
    "request_id",
    "layer",
    "engine",
    "rule",
    "class",
    "action",
    "confidence",
    "evidence",
    "sink",
    "operation",
    "message",
    "client",
    "method",
    "host",
    "path",
    "status",
    "decision",
)
_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """``2026-12-04T05:00:00Z`` (ISO 8601; no zone means UTC) or a span back from now
    (``90s``, ``10m``, ``2h``, ``7d``). ``ValueError`` says which forms are accepted."""
    text = text.strip()
    if m := _RELATIVE.match(text):
        span = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        return (now or datetime.now(UTC)) - span
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"cannot read time {text!r}: use ISO 8601 (2026-12-04T05:00:00Z) or a span (90s, 10m, 2h, 7d)"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """Which incidents to list. ``path`` is a prefix; the others match exactly."""

    since: datetime | None = None
    until: datetime | None = None
    layer: str | None = None
    attack_class: str | None = None
    rule: str | None = None
    client: str | None = None
    path: str | None = None
    limit: int = 100

    def matches(self, incident: Incident) -> bool:
        if self.since is not None and incident.time < self.since:
            return False
        if self.until is not None and incident.time >= self.until:
            return False
        exact = (
            (self.layer, incident.layer),
            (self.attack_class, incident.attack_class),
            (self.rule, incident.rule),
            (self.client, incident.client),
        )
        if any(want is not None and want != got for want, got in exact):
            return False
        return self.path is None or (incident.path or "").startswith(self.path)

    def sql(self) -> tuple[Composable, list[Any]]:
        """The ``WHERE`` clause (empty when nothing is filtered) and its parameters."""
        from psycopg import sql

        clauses: list[Composable] = []
        params: list[Any] = []
        for column, op, value in (
            ("time", ">=", self.since),
            ("time", "<", self.until),
            ("layer", "=", self.layer),
            ("class", "=", self.attack_class),
            ("rule", "=", self.rule),
            ("client", "=", self.client),
        ):
            if value is not None:
                clauses.append(sql.SQL("{} " + op + " %s").format(sql.Identifier(column)))
                params.append(value)
        if self.path is not None:
            clauses.append(sql.SQL("starts_with(path, %s)"))
            params.append(self.path)
        if not clauses:
            return sql.SQL(""), params
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), params


def _lines(path: Path) -> Iterator[tuple[Path, JsonLine]]:
    """The lines of ``path`` and of its rotated predecessors (``path.N`` ... ``path.1``), oldest
    file first, each with the file it came from."""
    rotated = sorted(
        (p for p in path.parent.glob(path.name + ".*") if p.suffix[1:].isdigit()),
        key=lambda p: -int(p.suffix[1:]),
    )
    for file in [*rotated, path]:
        for line in read_lines(file):
            yield file, line


def query_file(path: str | Path, flt: IncidentFilter) -> list[Incident]:
    """The newest ``flt.limit`` matching incidents of a JSONL file (and its rotated files),
    oldest first. A line that is not an incident raises ``ValueError`` naming file and line."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such incident file")
    found: list[Incident] = []
    for file, line in _lines(path):
        try:
            incident = Incident.model_validate(json.loads(line))
        except ValueError as exc:
            first = str(exc).splitlines()[0]
            raise ValueError(f"{file}:{line.lineno}: not an incident record ({first})") from None
        if flt.matches(incident):
            found.append(incident)
    found.sort(key=lambda i: i.time)
    return found[-flt.limit :] if flt.limit else found


class PostgresIncidentStore:
    """Incidents in one PostgreSQL table (created on first use). Thread-safe: the gateway's
    audit writer calls :meth:`write_batch` from a worker thread."""

    def __init__(self, url: str, *, table: str = DEFAULT_TABLE, connect_timeout: float = 5.0) -> None:
        if not _TABLE_NAME.match(table):
            raise ValueError(f"incident table name {table!r}: use lower-case letters, digits and _")
        self.url = url
        self.table = table
        self.connect_timeout = connect_timeout
        self.count = 0
        self._lock = threading.Lock()
        self._conn: Any = None

    def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=int(self.connect_timeout))
            self._create()
        return self._conn

    def _create(self) -> None:
        from psycopg import sql

        t = sql.Identifier(self.table)
        self._conn.execute(
            sql.SQL("""CREATE TABLE IF NOT EXISTS {} (
                id bigserial PRIMARY KEY,
                "time" timestamptz NOT NULL,
                request_id text NOT NULL,
                layer text NOT NULL,
                engine text NOT NULL,
                rule text NOT NULL,
                "class" text NOT NULL,
                action text NOT NULL,
                confidence real NOT NULL,
                evidence text NOT NULL DEFAULT '',
                sink text,
                operation text,
                message text NOT NULL DEFAULT '',
                client text,
                method text,
                host text,
                path text,
                status integer,
                decision text
            )""").format(t)
        )
        for suffix, column in (("time", "time"), ("request", "request_id")):
            index = sql.Identifier(f"{self.table}_{suffix}")
            self._conn.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(index, t, sql.Identifier(column))
            )

    def ensure_schema(self) -> None:
        """Connect and create the table now (the gateway does this at start)."""
        with self._lock:
            self._connection()

    def write_batch(self, batch: Iterable[Incident]) -> None:
        from psycopg import sql

        rows = [tuple(i.model_dump(by_alias=True)[c] for c in _COLUMNS) for i in batch]
        if not rows:
            return
        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(self.table),
            sql.SQL(", ").join(sql.Identifier(c) for c in _COLUMNS),
            sql.SQL(", ").join(sql.Placeholder() for _ in _COLUMNS),
        )
        with self._lock:
            conn = self._connection()
            with conn.cursor() as cur:
                cur.executemany(insert, rows)
            self.count += len(rows)

    def query(self, flt: IncidentFilter) -> list[Incident]:
        """The newest ``flt.limit`` matching incidents, oldest first."""
        from psycopg import sql

        where, params = flt.sql()
        select = sql.SQL('SELECT {} FROM {}{} ORDER BY "time" DESC, id DESC').format(
            sql.SQL(", ").join(sql.Identifier(c) for c in _COLUMNS), sql.Identifier(self.table), where
        )
        if flt.limit:
            select += sql.SQL(" LIMIT {}").format(sql.Literal(int(flt.limit)))
        with self._lock:
            rows = self._connection().execute(select, params).fetchall()
        out = [Incident.model_validate(dict(zip(_COLUMNS, row, strict=True))) for row in rows]
        return out[::-1]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
