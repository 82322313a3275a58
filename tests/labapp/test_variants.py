"""The same exploits with the other backends: motor instead of pymongo's async client,
PostgreSQL (psycopg 3) instead of SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import aiohttp
import pytest

from rampart.labapp.lifecycle import LabHandle
from rampart.labapp.settings import LabSettings
from tests.labapp.conftest import Client, lab_in_thread

VARIANTS = [("motor", "sqlite"), ("pymongo", "postgresql"), ("motor", "postgresql")]


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda v: f"{v[0]}+{v[1]}")
def variant_lab(request: pytest.FixtureRequest) -> Iterator[LabHandle]:
    driver, sql = request.param
    database_url = request.getfixturevalue("postgres_url") if sql == "postgresql" else None
    settings = LabSettings(port=0, mongo_driver=driver, database_url=database_url)
    with lab_in_thread(settings) as handle:
        yield handle


@pytest.fixture
async def vclient(variant_lab: LabHandle):
    async with aiohttp.ClientSession() as session:
        yield Client(session, variant_lab.url)


async def test_health_names_the_backends(vclient, variant_lab):
    async with vclient.session.get(vclient.base + "/__lab/health") as resp:
        body = await resp.json()
    assert body["mongo_driver"] == variant_lab.settings.mongo_driver
    assert body["sql"] == ("postgresql" if variant_lab.settings.database_url else "sqlite")


async def test_login_benign_and_bypass(vclient, variant_lab):
    status, text, rid, _ = await vclient.send(
        "POST", "/api/login", json={"username": "bob", "password": "builder123"}
    )
    assert status == 200
    assert "Bob Baumeister" in text
    assert await vclient.kinds(rid) == set()
    status, text, rid, _ = await vclient.send(
        "POST", "/api/login", json={"username": "admin", "password": {"$ne": None}}
    )
    assert status == 200
    assert variant_lab.secrets.admin_profile in text
    assert await vclient.kinds(rid) == {"auth_bypass", "canary_leak"}


async def test_products_operator_injection(vclient, variant_lab):
    status, text, rid, _ = await vclient.send("GET", "/api/products?category=garden")
    assert status == 200
    assert "Watering Can" in text
    assert await vclient.kinds(rid) == set()
    status, text, rid, _ = await vclient.send("GET", "/api/products?category[$ne]=x")
    assert variant_lab.secrets.internal_product in text
    assert await vclient.kinds(rid) == {"canary_leak"}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/api/orders?id=", "0 UNION SELECT id, token, id FROM secrets"),
        ("/api/orders/search?item=", "zzz' UNION SELECT id, token, id FROM secrets --"),
        ("/api/orders/search?item=", "zzz' UNION SELECT NULL, token, NULL FROM secrets --"),
    ],
)
async def test_sql_union(vclient, variant_lab, path, value):
    status, text, rid, _ = await vclient.send("GET", path + quote(value, safe=""))
    assert status == 200, text
    assert variant_lab.secrets.sql_table in text
    assert await vclient.kinds(rid) == {"canary_leak"}


async def test_sql_benign(vclient):
    status, text, _rid, _ = await vclient.send("GET", "/api/orders?id=5")
    assert status == 200
    assert "Mechanical Keyboard" in text
    status, text, _, _ = await vclient.send("GET", "/api/orders/search?item=Knife")
    assert status == 200
    assert "Chef's Knife" in text


async def test_sql_error_is_a_clean_400(vclient):
    status, text, _, _ = await vclient.send("GET", "/api/orders?id=1)")
    assert status == 400
    assert "database error" in text
    assert "Traceback" not in text
    status, text, _, _ = await vclient.send("GET", "/api/orders?id=1")
    assert status == 200
    assert "USB-C Hub" in text


async def test_stored_comment(vclient):
    status, _, rid, _ = await vclient.send(
        "POST", "/api/comments", json={"text": '<a href="javascript:alert(1)">x</a>'}
    )
    assert status == 201
    assert await vclient.kinds(rid) == {"stored_payload"}
    status, page, _, _ = await vclient.send("GET", "/comments")
    assert '<a href="javascript:alert(1)">x</a>' in page


async def test_external_mongodb_url():
    """``MONGODB_URL`` replaces the embedded database (here: another SecantusDB)."""
    from rampart.labapp.stores.mongo import EmbeddedMongo

    external = EmbeddedMongo()
    await external.start()
    try:
        with lab_in_thread(LabSettings(port=0, mongodb_url=external.uri, mongo_db="lab_ext")) as handle:
            async with aiohttp.ClientSession() as session:
                client = Client(session, handle.url)
                body = {"username": "admin", "password": {"$ne": None}}
                status, _, rid, _ = await client.send("POST", "/api/login", json=body)
                assert status == 200
                assert await client.kinds(rid) == {"auth_bypass", "canary_leak"}
        assert not (handle.data_dir / "mongo").exists()
    finally:
        await external.stop()


async def test_data_dir_is_kept(tmp_path):
    with lab_in_thread(LabSettings(port=0, data_dir=tmp_path / "lab")) as handle:
        assert handle.data_dir == (tmp_path / "lab").resolve()
        assert (handle.data_dir / "docs" / "readme.txt").is_file()
    assert (tmp_path / "lab" / "secret.txt").is_file()
