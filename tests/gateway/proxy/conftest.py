from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from rampart.gateway.app import build_gateway, create_app, runner_factory
from rampart.gateway.config import GatewaySettings, load_settings
from rampart.gateway.engines.testing import LiteralEngine
from rampart.gateway.proxy import Gateway
from rampart.gateway.proxy.inspection import NamedEngine
from tests.gateway.proxy.upstream import create_upstream


@dataclass
class Upstream:
    url: str
    app: web.Application
    server: TestServer


@dataclass
class RunningGateway:
    url: str
    host: str
    port: int
    gateway: Gateway
    settings: GatewaySettings


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    app = create_upstream()
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Upstream(str(server.make_url("")).rstrip("/"), app, server)
    finally:
        await server.close()


MakeGateway = Callable[..., Awaitable[RunningGateway]]


class GatewayTestServer(TestServer):
    """``TestServer`` serving through the gateway's runner (its own error pages), as
    ``rampart gateway`` does."""

    def __init__(self, app: web.Application, settings: GatewaySettings, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.settings = settings

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        kwargs["handler_cancellation"] = False  # as ``rampart gateway`` runs (TestServer cancels)
        return runner_factory(self.settings)(self.app, **kwargs)


@pytest.fixture
async def make_gateway(upstream: Upstream) -> AsyncIterator[MakeGateway]:
    servers: list[GatewayTestServer] = []

    async def start(
        *, engines: list[NamedEngine] | None = None, upstream_url: str | None = None, **overrides: Any
    ) -> RunningGateway:
        overrides.setdefault("engines", ("testing",))
        settings = load_settings(None, upstream=upstream_url or upstream.url, **overrides)
        gw = build_gateway(settings, engines=engines)
        server = GatewayTestServer(create_app(settings, gateway=gw), settings, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        assert server.port is not None
        return RunningGateway(str(server.make_url("")).rstrip("/"), "127.0.0.1", server.port, gw, settings)

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


def literal_engine(name: str = "testing", **kwargs: Any) -> NamedEngine:
    from rampart.gateway.model import EngineSettings

    mode = kwargs.pop("mode", "detect")
    return NamedEngine(name, LiteralEngine(EngineSettings(mode=mode), name=name, **kwargs))


def literal(named: NamedEngine) -> LiteralEngine:
    """The test engine inside a :class:`NamedEngine`."""
    return cast(LiteralEngine, named.engine)
