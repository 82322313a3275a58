"""Loopback stand-ins for the places the lab's outbound HTTP can reach.

Each is a small aiohttp app on 127.0.0.1 (port 0): the partner's public site (with an open
redirector), a generic public "internet", an internal admin API and a cloud metadata
endpoint. The internal ones answer with lab secrets, which is what an SSRF is after.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from rampart.labapp.canaries import LabSecrets
from rampart.labapp.sandbox.addresses import IPAddress, Place
from rampart.labapp.sandbox.dns import DEFAULT_TABLE, PARTNER

__all__ = ["SimulatorKind", "Simulators", "build_simulator", "simulator_for"]

SimulatorKind = str
_PARTNER_ADDR = DEFAULT_TABLE[PARTNER]
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})

_PARTNER_PAGES = {
    "/": "<h1>Partner Co.</h1><p>Wholesale supplies for the Rampart shop.</p>"
    '<ul><li><a href="/about">About</a></li><li><a href="/catalog.json">Catalog</a></li></ul>',
    "/about": "<h1>About Partner Co.</h1><p>Trusted supplier since 1999.</p>",
    "/robots.txt": "User-agent: *\nDisallow:\n",
}


def _page(title: str, body: str) -> web.Response:
    return web.Response(
        text=f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>",
        content_type="text/html",
    )


def _partner_app(_secrets: LabSecrets) -> web.Application:
    async def page(request: web.Request) -> web.StreamResponse:
        if request.path == "/catalog.json":
            return web.json_response({"items": [{"sku": "P-100", "name": "Pallet of paper", "price": 42.0}]})
        if request.path == "/redirect":
            target = request.query.get("to") or request.query.get("url")
            if not target:
                return web.json_response({"error": "missing 'to'"}, status=400)
            try:
                code = int(request.query.get("code", "302"))
            except ValueError:
                code = 302
            return web.Response(status=code if code in _REDIRECT_CODES else 302, headers={"Location": target})
        body = _PARTNER_PAGES.get(request.path)
        if body is None:
            return web.Response(status=404, text="not found")
        if request.path.endswith(".txt"):
            return web.Response(text=body)
        return _page("Partner Co.", body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    return app


def _internet_app(_secrets: LabSecrets) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        host = html.escape(request.host or "example")
        return _page(host, f"<h1>{host}</h1><p>An ordinary public page at {html.escape(request.path)}.</p>")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    return app


def _internal_app(secrets: LabSecrets) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        body: dict[str, object] = {
            "service": "internal-admin-api",
            "path": request.path,
            "admin_token": secrets.internal_api,
            "endpoints": ["/admin/users", "/admin/config", "/health"],
        }
        if request.path == "/admin/users":
            body["users"] = [
                {"username": "admin", "role": "admin"},
                {"username": "alice", "role": "customer"},
            ]
        return web.json_response(body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    return app


def _metadata_app(secrets: LabSecrets) -> web.Application:
    creds = {
        "Code": "Success",
        "Type": "AWS-HMAC",
        "AccessKeyId": "ASIALABEXAMPLE0000",
        "SecretAccessKey": secrets.metadata,
        "Token": secrets.metadata,
        "Expiration": "2099-01-01T00:00:00Z",
    }
    texts = {
        "/": "latest\n",
        "/latest": "meta-data/\nuser-data\n",
        "/latest/meta-data": "ami-id\nhostname\niam/\ninstance-id\nlocal-ipv4\n",
        "/latest/meta-data/ami-id": "ami-0lab00000000000\n",
        "/latest/meta-data/hostname": "ip-10-20-0-9.lab.internal\n",
        "/latest/meta-data/instance-id": "i-0lab0000000000000\n",
        "/latest/meta-data/local-ipv4": "10.20.0.9\n",
        "/latest/meta-data/iam": "security-credentials/\n",
        "/latest/meta-data/iam/security-credentials": "lab-role\n",
        "/latest/user-data": f"#!/bin/sh\nexport LAB_API_KEY={secrets.metadata}\n",
        "/computeMetadata/v1/instance/service-accounts/default/token": json.dumps(
            {"access_token": secrets.metadata, "expires_in": 3599, "token_type": "Bearer"}
        ),
        "/metadata/identity/oauth2/token": json.dumps(
            {"access_token": secrets.metadata, "token_type": "Bearer"}
        ),
    }

    async def page(request: web.Request) -> web.Response:
        path = request.path.rstrip("/") or "/"
        if path.startswith("/latest/meta-data/iam/security-credentials/"):
            return web.json_response(creds)
        if path == "/latest/api/token":
            return web.Response(text="AQAEAlabIMDSv2token==")
        text = texts.get(path)
        if text is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(text=text)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    return app


_BUILDERS: dict[SimulatorKind, Callable[[LabSecrets], web.Application]] = {
    "partner": _partner_app,
    "internet": _internet_app,
    "internal": _internal_app,
    "metadata": _metadata_app,
}

_BY_PLACE: dict[Place, SimulatorKind] = {
    Place.PUBLIC: "internet",
    Place.LOOPBACK: "internal",
    Place.PRIVATE: "internal",
    Place.UNSPECIFIED: "internal",
    Place.LINK_LOCAL: "metadata",
    Place.METADATA: "metadata",
}


def build_simulator(kind: SimulatorKind, secrets: LabSecrets) -> web.Application:
    try:
        return _BUILDERS[kind](secrets)
    except KeyError:
        raise ValueError(f"unknown simulator {kind!r}; known: {', '.join(sorted(_BUILDERS))}") from None


def simulator_for(addr: IPAddress, place: Place) -> SimulatorKind:
    """Which simulator answers for a virtual destination."""
    if str(addr) == _PARTNER_ADDR:
        return "partner"
    return _BY_PLACE[place]


@dataclass
class Simulators:
    """Running simulators: kind -> loopback port."""

    ports: dict[SimulatorKind, int]
    runners: list[web.AppRunner]

    @classmethod
    async def start(cls, secrets: LabSecrets) -> Simulators:
        ports: dict[SimulatorKind, int] = {}
        runners: list[web.AppRunner] = []
        try:
            for kind in _BUILDERS:
                runner = web.AppRunner(build_simulator(kind, secrets), access_log=None, shutdown_timeout=1.0)
                await runner.setup()
                runners.append(runner)
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                ports[kind] = _bound_port(site)
        except BaseException:
            for r in runners:
                await r.cleanup()
            raise
        return cls(ports, runners)

    async def stop(self) -> None:
        for runner in reversed(self.runners):
            await runner.cleanup()
        self.runners.clear()


def _bound_port(site: web.TCPSite) -> int:
    server = site._server
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    return int(sockets[0].getsockname()[1])
