from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from rampart.loadtests.nginx_peer import available, modsec_conf, start_nginx_peer
from tests.conftest import need


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    seen: list[str] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        return web.Response(text=f"upstream saw {request.method} {request.path}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def test_modsec_conf_skips_geoip_rules() -> None:
    need(available() is None, "nginx + ModSecurity + CRS")
    conf = modsec_conf(paranoia=2)
    assert "REQUEST-910-" not in conf
    assert "REQUEST-942-APPLICATION-ATTACK-SQLI.conf" in conf
    assert "tx.paranoia_level=2" in conf


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/products?category=shoes", None, 200),
        ("POST", "/api/comments", {"text": "Lovely lamp, five stars"}, 200),
        ("GET", "/api/orders?id=1%20UNION%20SELECT%20id,name,token%20FROM%20secrets", None, 403),
        ("GET", "/greet?name=%3Cscript%3Ealert(1)%3C/script%3E", None, 403),
        ("POST", "/api/login", {"username": "admin", "password": "' OR '1'='1"}, 403),
    ],
)
async def test_nginx_crs_peer_blocks_attacks_passes_benign(
    upstream: str, method: str, path: str, body: dict[str, str] | None, status: int
) -> None:
    need(available() is None, "nginx + ModSecurity + CRS")
    async with start_nginx_peer(upstream) as url, aiohttp.ClientSession() as session:
        async with session.request(method, url + path, json=body) as resp:
            assert resp.status == status
            if status == 200:
                assert (await resp.text()).startswith("upstream saw")


async def test_bare_nginx_peer_passes_everything(upstream: str) -> None:
    need(available(crs=False) is None, "nginx")
    async with start_nginx_peer(upstream, crs=False) as url, aiohttp.ClientSession() as session:
        async with session.get(url + "/greet?name=%3Cscript%3E") as resp:
            assert resp.status == 200
