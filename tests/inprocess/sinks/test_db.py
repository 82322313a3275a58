"""Database sinks against real servers: PostgreSQL (psycopg 3 sync/async, asyncpg) and an
embedded SecantusDB (pymongo sync, pymongo async, motor), plus stored-XSS taint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from rampart.incidents import read_incidents
from rampart.inprocess.context import bind
from rampart.inprocess.errors import Blocked
from rampart.inprocess.sinks._taint import tainted

from ..conftest import request_ctx

pytestmark = pytest.mark.timeout(60)

SQL_ATTACK = "0 OR 1=1"


@pytest.mark.services
def test_psycopg_sync(make_guard, postgres_url: str, incidents_file: Path) -> None:
    import psycopg

    make_guard("block")
    with psycopg.connect(postgres_url) as conn, conn.cursor() as cur:
        with bind(request_ctx(id=SQL_ATTACK)), pytest.raises(Blocked):
            cur.execute(f"SELECT 1 WHERE 1 = {SQL_ATTACK}")
        with bind(request_ctx(id="1")):
            cur.execute("SELECT 1 WHERE 1 = 1")
            assert cur.fetchall() == [(1,)]
    assert [i.operation for i in read_incidents(incidents_file)] == ["psycopg.execute"]


@pytest.mark.services
async def test_psycopg_async_and_asyncpg(make_guard, postgres_url: str, incidents_file: Path) -> None:
    import asyncpg
    import psycopg

    make_guard("block")
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn, conn.cursor() as cur:
        with bind(request_ctx(id=SQL_ATTACK)), pytest.raises(Blocked):
            await cur.execute(f"SELECT 1 WHERE 1 = {SQL_ATTACK}")
    apg = await asyncpg.connect(postgres_url)
    try:
        with bind(request_ctx(id=SQL_ATTACK)):
            with pytest.raises(Blocked):
                await apg.fetch(f"SELECT 1 WHERE 1 = {SQL_ATTACK}")
            with pytest.raises(Blocked):
                await apg.execute(f"SELECT 1 WHERE 1 = {SQL_ATTACK}")
        with bind(request_ctx(id="1")):
            assert await apg.fetchval("SELECT 1 WHERE 1 = $1", 1) == 1
    finally:
        await apg.close()
    ops = [i.operation for i in read_incidents(incidents_file)]
    assert ops == ["psycopg.execute", "asyncpg.fetch", "asyncpg.execute"]


@pytest.fixture(scope="module")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from secantus import SecantusDBServer

    server = SecantusDBServer(
        port=0, storage_path=str(tmp_path_factory.mktemp("secantus")), replica_set_name=None
    )
    server.start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture
async def async_users(mongo_uri: str) -> AsyncIterator[object]:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_uri)
    coll = client["guardtest"]["users"]
    await coll.delete_many({})
    await coll.insert_many(
        [
            {"username": "admin", "password": "s3cret", "bio": "<b>boss</b>"},
            {"username": "bob", "password": "pw", "bio": "<img src=x onerror=alert(1)>"},
        ]
    )
    yield coll
    await client.close()


NOSQL_ATTACK = {"$ne": "x"}


async def test_pymongo_async_collection(make_guard, async_users, incidents_file: Path) -> None:
    make_guard("block")
    with bind(request_ctx(username="admin", password=NOSQL_ATTACK)):
        with pytest.raises(Blocked):
            await async_users.find_one({"username": "admin", "password": NOSQL_ATTACK})
        with pytest.raises(Blocked):
            async_users.find({"password": NOSQL_ATTACK})
        with pytest.raises(Blocked):
            await async_users.update_one({"password": NOSQL_ATTACK}, {"$set": {"x": 1}})
        with pytest.raises(Blocked):
            await async_users.count_documents({"password": NOSQL_ATTACK})
    with bind(request_ctx(username="admin", password="s3cret")):
        found = await async_users.find_one({"username": "admin", "password": "s3cret"})
    assert found is not None
    assert found["username"] == "admin"
    # find_one is judged inside find (pymongo implements it that way), so it reports "find"
    operations = {i.operation for i in read_incidents(incidents_file)}
    assert operations == {"collection.find", "collection.update_one", "collection.count_documents"}


def test_pymongo_sync_collection(make_guard, mongo_uri: str) -> None:
    from pymongo import MongoClient

    make_guard("block")
    client: MongoClient[dict[str, object]] = MongoClient(mongo_uri)
    try:
        coll = client["guardtest"]["sync"]
        coll.insert_one({"k": "v"})
        with bind(request_ctx(k=NOSQL_ATTACK)):
            with pytest.raises(Blocked):
                coll.find_one({"k": NOSQL_ATTACK})
            with pytest.raises(Blocked):
                coll.delete_many({"k": NOSQL_ATTACK})
            with pytest.raises(Blocked):
                coll.aggregate([{"$match": {"k": NOSQL_ATTACK}}])
        assert coll.count_documents({}) >= 1
    finally:
        client.close()


async def test_motor_runs_in_executor_with_context(make_guard, mongo_uri: str) -> None:
    from motor.motor_asyncio import AsyncIOMotorClient

    make_guard("block")
    client: AsyncIOMotorClient[dict[str, object]] = AsyncIOMotorClient(mongo_uri)
    try:
        coll = client["guardtest"]["motor"]
        await coll.insert_one({"k": "v"})
        with bind(request_ctx(k=NOSQL_ATTACK)), pytest.raises(Blocked):
            await coll.find_one({"k": NOSQL_ATTACK})
        with bind(request_ctx(k="v")):
            assert (await coll.find_one({"k": "v"}) or {}).get("k") == "v"
    finally:
        client.close()


async def test_documents_read_feed_stored_xss_taint(make_guard, async_users) -> None:
    make_guard("block")
    ctx = request_ctx(page="1")
    with bind(ctx):
        docs = await async_users.find({}).to_list()
        one = await async_users.find_one({"username": "bob"})
    assert len(docs) == 2
    assert one is not None
    assert ctx.db_values == []  # reads are kept by reference, walked on demand
    stored = tainted(ctx)
    assert "<img src=x onerror=alert(1)>" in stored
    assert "s3cret" not in stored  # only markup-looking strings are kept


def test_sqlite_rows_feed_stored_xss_taint(make_guard) -> None:
    import sqlite3

    make_guard("block")
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE c (text TEXT)")
    conn.execute("INSERT INTO c VALUES ('<script>x()</script>'), ('plain')")
    ctx = request_ctx()
    with bind(ctx):
        rows = conn.execute("SELECT text FROM c").fetchall()
    assert len(rows) == 2
    assert tainted(ctx) == ["<script>x()</script>"]


async def test_storing_active_html_from_input_is_checked(
    make_guard, async_users, incidents_file: Path
) -> None:
    make_guard("block")
    payload = "<svg onload=alert(1)>"
    with bind(request_ctx(text=payload)), pytest.raises(Blocked) as info:
        await async_users.insert_one({"text": payload, "author": "m"})
    assert info.value.operation == "collection.insert_one"
    assert await async_users.count_documents({"author": "m"}) == 0
    with bind(request_ctx(text="<b>fine</b> & plain")):
        await async_users.insert_one({"text": "<b>fine</b> & plain", "author": "ok"})
    assert [i.rule for i in read_incidents(incidents_file)] == ["stored_xss"]
