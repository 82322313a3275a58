"""Real labs for the tests: each runs in a background thread with its own event loop, so
one lab can be shared by a whole module or session while tests keep their own loops."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import pytest

from rampart.labapp.lifecycle import LabHandle, start_lab
from rampart.labapp.settings import LabSettings


@contextmanager
def lab_in_thread(settings: LabSettings, timeout: float = 60.0) -> Iterator[LabHandle]:
    ready = threading.Event()
    box: dict[str, Any] = {}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async with start_lab(settings) as lab:
                box["lab"] = lab
                ready.set()
                await stop.wait()
        except BaseException as exc:
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(timeout), "lab did not start in time"
    if "error" in box:
        raise box["error"]
    try:
        yield box["lab"]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        loop.close()


@pytest.fixture(scope="session")
def lab() -> Iterator[LabHandle]:
    with lab_in_thread(LabSettings(port=0)) as handle:
        yield handle


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Client:
    """Thin helper: send a request with a fresh X-Request-ID, fetch its effects."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base
        self.counter = 0
        self.prefix = uuid.uuid4().hex[:12]

    async def send(self, method: str, path: str, **kwargs: Any) -> tuple[int, str, str, dict[str, str]]:
        self.counter += 1
        rid = f"t-{self.prefix}-{self.counter}"
        headers = {"X-Request-ID": rid, **kwargs.pop("headers", {})}
        async with self.session.request(method, self.base + path, headers=headers, **kwargs) as resp:
            text = await resp.text()
            assert resp.headers["X-Request-ID"] == rid
            return resp.status, text, rid, dict(resp.headers)

    async def effects(self, rid: str) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.base}/__lab/effects", params={"request_id": rid}) as resp:
            body = await resp.json()
            assert body["request_id"] == rid
            return list(body["effects"])

    async def kinds(self, rid: str) -> set[str]:
        return {e["kind"] for e in await self.effects(rid)}


@pytest.fixture
def client(http: aiohttp.ClientSession, lab: LabHandle) -> Client:
    return Client(http, lab.url)
