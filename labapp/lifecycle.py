"""Start and stop a whole lab in-process: data folder, MongoDB, SQL, simulators, the app.

>>> async with start_lab(LabSettings(port=0)) as lab:   # doctest: +SKIP
...     print(lab.url, lab.secrets.admin_profile)

The CLI (``rampart lab``) is a thin wrapper over :func:`start_lab`; tests and other parts
of rampart use it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from rampart.labapp import guard
from rampart.labapp.app import build_app
from rampart.labapp.canaries import LabSecrets
from rampart.labapp.effects import EffectStore
from rampart.labapp.llmsim.server import build_llm_app
from rampart.labapp.sandbox.session import Sandbox
from rampart.labapp.seed import write_files
from rampart.labapp.settings import LabSettings
from rampart.labapp.state import LabState
from rampart.labapp.stores.mongo import EmbeddedMongo

__all__ = ["LabHandle", "start_lab"]


@dataclass(frozen=True)
class LabHandle:
    """A running lab: where it listens and the per-start secrets it planted."""

    url: str
    host: str
    port: int
    secrets: LabSecrets
    data_dir: Path
    effects: EffectStore
    settings: LabSettings
    llm_url: str
    simulator_ports: dict[str, int]
    guarded: bool


def _bound_port(site: web.TCPSite) -> int:
    server = site._server
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    return int(sockets[0].getsockname()[1])


async def _serve(stack: contextlib.AsyncExitStack, app: web.Application, host: str, port: int) -> int:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return _bound_port(site)


async def _serve_asgi(stack: contextlib.AsyncExitStack, app: Any, host: str, port: int) -> int:
    """Serve the ASGI ``app`` with uvicorn in this event loop (lifespan on); return its port."""
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # the caller owns SIGINT/SIGTERM
            yield

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    # bound here, so a busy port is the same OSError (and message) as the aiohttp lab's
    sock = socket.create_server(
        (host.strip("[]"), port), family=socket.AF_INET6 if ":" in host else socket.AF_INET
    )
    stack.callback(sock.close)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def _stop() -> None:
        server.should_exit = True
        await task

    stack.push_async_callback(_stop)
    while not server.started:
        if task.done():
            task.result()  # start-up errors surface here
            raise RuntimeError(f"the ASGI lab did not start on {host}:{port} (see uvicorn's log above)")
        await asyncio.sleep(0.02)
    return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def start_lab(settings: LabSettings | None = None) -> AsyncIterator[LabHandle]:
    """Bring the lab up; everything started here is stopped (and temp folders removed) on exit."""
    settings = settings or LabSettings()
    guard.require(settings.guard)
    async with contextlib.AsyncExitStack() as stack:
        throwaway = settings.data_dir is None
        if settings.data_dir is None:
            data_dir = Path(tempfile.mkdtemp(prefix="rampart-lab-"))
            stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        else:
            data_dir = settings.data_dir
            data_dir.mkdir(parents=True, exist_ok=True)
        data_dir = data_dir.resolve()
        secrets = LabSecrets.generate()
        docs_dir, uploads_dir = write_files(data_dir, secrets)

        embedded: EmbeddedMongo | None = None
        if settings.mongodb_url is None:
            embedded = EmbeddedMongo(data_dir / "mongo", throwaway=throwaway)
            stack.push_async_callback(embedded.stop)
            booting = asyncio.create_task(embedded.start())
            stack.callback(booting.cancel)

        effects = EffectStore()
        sandbox = await Sandbox.start(secrets, effects)
        stack.push_async_callback(sandbox.stop)
        llm_port = await _serve(stack, build_llm_app(), "127.0.0.1", 0)
        llm_url = f"http://127.0.0.1:{llm_port}/v1"
        if embedded is not None:
            await booting
        mongo_uri = embedded.uri if embedded is not None else str(settings.mongodb_url)

        state = LabState(
            settings=settings,
            secrets=secrets,
            effects=effects,
            sandbox=sandbox,
            data_dir=data_dir,
            docs_dir=docs_dir,
            uploads_dir=uploads_dir,
            mongo_uri=mongo_uri,
            llm_base_url=llm_url,
        )
        if settings.server == "asgi":
            from rampart.labapp.asgi import build_asgi_app

            guarded = False
            port = await _serve_asgi(stack, build_asgi_app(state), settings.host, settings.port)
        else:
            app = build_app(state)
            guarded = guard.install(
                app, settings.guard, harness=settings.harness, incidents_path=settings.incidents
            )
            port = await _serve(stack, app, settings.host, settings.port)
        shown = f"[{settings.host}]" if ":" in settings.host else settings.host
        yield LabHandle(
            url=f"http://{shown}:{port}",
            host=settings.host,
            port=port,
            secrets=secrets,
            data_dir=data_dir,
            effects=effects,
            settings=settings,
            llm_url=llm_url,
            simulator_ports=dict(sandbox.simulators.ports),
            guarded=guarded,
        )
