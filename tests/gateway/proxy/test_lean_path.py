"""The lean request path keeps the relay's behaviour: the response headers are filtered and
hardened in one pass (policy read once per app), and a body-less request still reaches the
upstream with the gateway's forwarding headers, once each."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from rampart.gateway.config import HeaderPolicy
from rampart.gateway.proxy.hardening import Hardening


async def _own_headers(request: web.Request) -> web.Response:
    """An upstream that sets security headers of its own and tries to forge verdicts."""
    resp = web.Response(text="ok")
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    resp.headers["Content-Security-Policy"] = "default-src 'self'"
    resp.headers["X-Rampart-Waf"] = "allow score=0"
    resp.headers["X-Rampart-Waf-Native"] = "allow score=0"
    resp.headers["X-Powered-By"] = "PHP/5.1"
    resp.headers["Proxy-Thing"] = "1"
    resp.headers["X-Kept"] = "yes"
    return resp


@pytest.fixture
async def own_upstream() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/", _own_headers)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_upstream_security_headers_kept_unless_the_policy_overrides(make_gateway, client, own_upstream):
    kept = await make_gateway(upstream_url=own_upstream)
    async with client.get(kept.url + "/") as resp:
        assert resp.status == 200
        assert resp.headers.getall("X-Frame-Options") == ["SAMEORIGIN"]
        assert resp.headers.getall("Content-Security-Policy") == ["default-src 'self'"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"  # added: the upstream had none
        assert resp.headers["X-Kept"] == "yes"
        for forged in ("X-Rampart-Waf", "X-Rampart-Waf-Native", "X-Powered-By", "Proxy-Thing", "Server"):
            assert forged not in resp.headers
    override = await make_gateway(upstream_url=own_upstream, headers={"override": True})
    async with client.get(override.url + "/") as resp:
        assert resp.headers.getall("X-Frame-Options") == ["DENY"]
        assert resp.headers.getall("Content-Security-Policy") == [
            "frame-ancestors 'none'; object-src 'none'; base-uri 'self'"
        ]
        assert resp.headers["X-Kept"] == "yes"


async def test_a_body_less_get_carries_the_forwarding_headers_once(make_gateway, client):
    gw = await make_gateway()
    async with client.get(gw.url + "/plain?q=1", headers={"X-Forwarded-For": "6.6.6.6"}) as resp:
        seen = await resp.json()
    names = [k.lower() for k, _ in seen["headers"]]
    for name in ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id"):
        assert names.count(name) == 1, name
    values = {k.lower(): v for k, v in seen["headers"]}
    assert values["x-forwarded-for"] == "127.0.0.1"  # the client's own value is not believed
    assert values["x-request-id"] == resp.headers["X-Request-ID"]
    assert seen["body_b64"] == ""
    assert "content-length" not in names
    assert "transfer-encoding" not in names


def test_hardening_read_once_applies_like_the_policy():
    policy = HeaderPolicy(x_frame_options=None, override=False)
    hardening = Hardening(policy)
    headers: CIMultiDict[str] = CIMultiDict(
        [("Server", "a"), ("server", "b"), ("X-Content-Type-Options", "sniff"), ("X-Other", "1")]
    )
    hardening.apply(headers)
    assert "Server" not in headers
    assert headers.getall("X-Content-Type-Options") == ["sniff"]  # no override: the own value stays
    assert "X-Frame-Options" not in headers  # switched off in the policy
    assert headers["Referrer-Policy"] == "no-referrer"
    assert hardening.dropped == {"server", "x-powered-by", "x-aspnet-version", "x-aspnetmvc-version"}
    strict = Hardening(HeaderPolicy(override=True))
    assert "x-frame-options" in strict.dropped
    assert "content-security-policy" in strict.dropped
