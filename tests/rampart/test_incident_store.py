"""Both incident stores answer the same filters: the JSONL file (with rotated files) and the
real PostgreSQL; ``rampart incidents`` reads either."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rampart.cli import main
from rampart.incident_store import IncidentFilter, PostgresIncidentStore, parse_time, query_file
from rampart.incidents import Incident, IncidentWriter

T0 = datetime(2026, 12, 4, 5, 0, tzinfo=UTC)


def _incident(minute: int, **fields: object) -> Incident:
    base: dict[str, Any] = {
        "time": T0 + timedelta(minutes=minute),
        "request_id": f"r{minute}",
        "layer": "waf",
        "engine": "native",
        "rule": "942100",
        "attack_class": "sql_injection",
        "action": "block",
        "confidence": 0.9,
        "client": "198.51.100.1",
        "method": "GET",
        "host": "shop.test",
        "path": "/api/orders",
        "status": 403,
        "decision": "block",
    }
    base.update(fields)
    return Incident.create(**base)


INCIDENTS = [
    _incident(0),
    _incident(1, rule="941100", attack_class="xss", path="/search"),
    _incident(2, client="203.0.113.5"),
    _incident(3, layer="rasp", engine="sinkguard", rule="sqli.tautology", path=None, sink="sqlite3"),
    _incident(4, path="/api/orders/7", status=200, action="detect", decision="detect"),
]

CASES = [
    (IncidentFilter(), ["r0", "r1", "r2", "r3", "r4"]),
    (IncidentFilter(limit=2), ["r3", "r4"]),
    (IncidentFilter(since=T0 + timedelta(minutes=2)), ["r2", "r3", "r4"]),
    (IncidentFilter(until=T0 + timedelta(minutes=2)), ["r0", "r1"]),
    (IncidentFilter(layer="rasp"), ["r3"]),
    (IncidentFilter(attack_class="xss"), ["r1"]),
    (IncidentFilter(rule="942100"), ["r0", "r2", "r4"]),
    (IncidentFilter(client="203.0.113.5"), ["r2"]),
    (IncidentFilter(path="/api/orders"), ["r0", "r2", "r4"]),
    (IncidentFilter(path="/api/orders/", layer="waf"), ["r4"]),
]


@pytest.fixture
def incident_file(tmp_path: Path) -> Path:
    path = tmp_path / "incidents.jsonl"
    writer = IncidentWriter(path, max_bytes=1500, backups=10)  # spread over rotated files
    for incident in INCIDENTS:
        writer.write(incident)
    writer.close()
    assert len(list(tmp_path.iterdir())) > 1
    return path


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[PostgresIncidentStore]:
    table = f"rmp_hd_incidents_{uuid.uuid4().hex[:10]}"
    store = PostgresIncidentStore(postgres_url, table=table)
    try:
        store.write_batch(INCIDENTS)
        yield store
    finally:
        import psycopg
        from psycopg import sql

        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        store.close()


@pytest.mark.parametrize(("flt", "expected"), CASES)
def test_file_store_filters(incident_file: Path, flt: IncidentFilter, expected: list[str]) -> None:
    assert [i.request_id for i in query_file(incident_file, flt)] == expected


@pytest.mark.services
@pytest.mark.parametrize(("flt", "expected"), CASES)
def test_postgres_store_filters(
    pg_store: PostgresIncidentStore, flt: IncidentFilter, expected: list[str]
) -> None:
    assert [i.request_id for i in pg_store.query(flt)] == expected


@pytest.mark.services
def test_postgres_round_trip_keeps_every_field(pg_store: PostgresIncidentStore) -> None:
    got = pg_store.query(IncidentFilter())
    assert got == INCIDENTS


def test_a_broken_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(INCIDENTS[0].to_json() + "\n" + json.dumps({"request_id": "x"}) + "\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not an incident record"):
        query_file(path, IncidentFilter())


def test_parse_time() -> None:
    now = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
    assert parse_time("10m", now=now) == now - timedelta(minutes=10)
    assert parse_time("2026-12-04T05:00:00Z") == T0
    assert parse_time("2026-12-04T05:00:00") == T0
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("yesterday")


def test_bad_table_name_is_refused() -> None:
    with pytest.raises(ValueError, match="incident table name"):
        PostgresIncidentStore("postgresql://127.0.0.1/test", table="x; drop")


def test_cli_reads_the_file(incident_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["incidents", "--file", str(incident_file), "--class", "sql_injection", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [x["request_id"] for x in lines] == ["r0", "r2", "r3", "r4"]
    assert main(["incidents", "--file", str(incident_file), "--client", "203.0.113.5"]) == 0
    (row,) = capsys.readouterr().out.splitlines()
    assert row.startswith("2026-12-04T05:02:00Z  waf  block   403  sql_injection")
    assert row.endswith("r2")


def test_cli_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["incidents", "--file", str(tmp_path / "none.jsonl")]) == 2
    assert "no such incident file" in capsys.readouterr().err
    assert main(["incidents", "--file", str(tmp_path / "none.jsonl"), "--since", "soon"]) == 2
    assert "ISO 8601" in capsys.readouterr().err


@pytest.mark.services
def test_cli_reads_postgres(pg_store: PostgresIncidentStore, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["incidents", "--database", pg_store.url, "--table", pg_store.table, "--layer", "rasp", "--json"]
    assert main(args) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["sink"] == "sqlite3"
