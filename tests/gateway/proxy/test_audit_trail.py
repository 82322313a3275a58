"""Incidents can be traced to requests: audit records carry the request, the "blocked" line
names the path, the access log has one bounded line per sampled request, and a flood of
429s is summarised."""

from __future__ import annotations

import json
import logging
import socket
import uuid

import psycopg
import pytest
from psycopg import sql

from rampart.gateway.config import AccessLogSettings
from rampart.gateway.proxy.accesslog import AccessLog
from rampart.incident_store import IncidentFilter, PostgresIncidentStore
from rampart.incidents import read_incidents
from tests.gateway.proxy.conftest import literal_engine

ATTACK = "/search?q=%3Cscript%3E"


async def test_audit_record_carries_the_request_and_its_status(
    make_gateway, client, tmp_path, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="rampart.gateway.proxy")
    path = tmp_path / "audit.jsonl"
    gw = await make_gateway(
        mode="block",
        audit={"path": str(path)},
        engines=[literal_engine("native", mode="block")],
        trusted_proxies=("127.0.0.1",),
    )
    headers = {"X-Request-ID": "trail-1", "X-Forwarded-For": "198.51.100.23", "Host": "shop.test"}
    async with client.get(gw.url + ATTACK, headers=headers) as resp:
        assert resp.status == 403
    await gw.gateway.audit.flush()
    (incident,) = read_incidents(path)
    assert (incident.request_id, incident.client, incident.method, incident.host, incident.path) == (
        "trail-1",
        "198.51.100.23",
        "GET",
        "shop.test",
        "/search",
    )
    assert (incident.status, incident.decision, incident.action) == (403, "block", "block")
    blocked = [r.getMessage() for r in caplog.records if r.getMessage().startswith("blocked ")]
    assert len(blocked) == 1
    assert "path=/search" in blocked[0]
    assert "client=198.51.100.23" in blocked[0]


async def test_detect_mode_records_the_upstreams_status(make_gateway, client, tmp_path) -> None:
    path = tmp_path / "audit.jsonl"
    gw = await make_gateway(audit={"path": str(path)}, engines=[literal_engine("native")])
    async with client.get(gw.url + "/status/404?q=%3Cscript%3E", headers={"X-Request-ID": "trail-2"}) as resp:
        assert resp.status == 404
    await gw.gateway.audit.flush()
    (incident,) = read_incidents(path)
    assert (incident.request_id, incident.status, incident.decision, incident.action) == (
        "trail-2",
        404,
        "detect",
        "detect",
    )


async def test_access_log_lines(make_gateway, client, tmp_path) -> None:
    path = tmp_path / "access.jsonl"
    gw = await make_gateway(
        mode="block", access_log={"path": str(path)}, engines=[literal_engine("native", mode="block")]
    )
    async with client.get(gw.url + "/plain", headers={"X-Request-ID": "acc-1"}) as resp:
        assert resp.status == 200
    async with client.get(gw.url + ATTACK, headers={"X-Request-ID": "acc-2"}) as resp:
        assert resp.status == 403
    async with client.get(gw.url + "/" + "a" * 5000, headers={"X-Request-ID": "acc-3"}) as resp:
        assert resp.status == 200
    assert gw.gateway.access is not None
    await gw.gateway.access.flush()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(x["request_id"], x["status"], x["outcome"], x["decision"]) for x in lines] == [
        ("acc-1", 200, "forwarded", "allow"),
        ("acc-2", 403, "blocked", "block"),
        ("acc-3", 200, "forwarded", "allow"),
    ]
    assert lines[0]["client"] == "127.0.0.1"
    assert lines[0]["method"] == "GET"
    assert lines[0]["path"] == "/plain"
    assert lines[0]["duration_ms"] >= 0
    assert len(lines[2]["path"]) == 512
    assert lines[2]["path"].endswith("…")


def test_access_log_sampling() -> None:
    draws = iter([0.05, 0.5, 0.09, 0.95])
    log = AccessLog(AccessLogSettings(path="/dev/null", sample=0.1), sample=lambda: next(draws))
    assert [log.wanted() for _ in range(4)] == [True, False, True, False]
    assert not AccessLog(AccessLogSettings(path=None)).wanted()
    assert not AccessLog(AccessLogSettings(path="/dev/null", sample=0.0)).wanted()


async def test_a_flood_of_429s_is_summarised(make_gateway, client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="rampart.gateway.proxy")
    rule = {"name": "tight", "limit": 1, "window": 60, "key_by": ["client"]}
    gw = await make_gateway(rate_limit={"enabled": True, "rules": [rule], "key_prefix": "rmp-hd-flood:"})
    for _ in range(41):
        async with client.get(gw.url + "/x") as resp:
            await resp.read()
    assert resp.status == 429
    for summary in gw.gateway.summaries.values():
        summary.flush()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rate_limited")]
    assert len(lines) == 2
    assert lines[0].startswith("rate_limited request_id=")
    assert "path=/x" in lines[0]
    assert lines[1].startswith("rate_limited_summary suppressed=39 keys=1")
    assert 'rampart_gateway_rate_limited_total{rule="tight"} 40.0' in gw.gateway.metrics.render().decode()


@pytest.mark.services
async def test_incidents_also_go_to_postgres(make_gateway, client, postgres_url: str) -> None:
    table = f"rmp_hd_gw_{uuid.uuid4().hex[:10]}"
    gw = await make_gateway(
        mode="block",
        audit={"database_url": postgres_url, "table": table},
        engines=[literal_engine("native", mode="block")],
    )
    try:
        async with client.get(gw.url + ATTACK, headers={"X-Request-ID": "pg-1"}) as resp:
            assert resp.status == 403
        await gw.gateway.audit.flush()
        store = PostgresIncidentStore(postgres_url, table=table)
        try:
            (incident,) = store.query(IncidentFilter(path="/search"))
        finally:
            store.close()
        assert (incident.request_id, incident.status, incident.client) == ("pg-1", 403, "127.0.0.1")
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))


async def test_an_unreachable_database_drops_and_counts_never_blocks(make_gateway, client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    gw = await make_gateway(
        mode="block",
        audit={"database_url": f"postgresql://postgres@127.0.0.1:{port}/test"},
        engines=[literal_engine("native", mode="block")],
    )
    async with client.get(gw.url + ATTACK) as resp:
        assert resp.status == 403
    async with client.get(gw.url + "/plain") as resp:
        assert resp.status == 200
    await gw.gateway.audit.flush()
    metrics = gw.gateway.metrics.render().decode()
    assert 'rampart_gateway_audit_sink_dropped_total{sink="postgres"} 1.0' in metrics
    assert "rampart_gateway_incidents_total 1.0" in metrics  # the file lane still wrote
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("audit_sink_unreachable sink=postgres") for m in messages)
