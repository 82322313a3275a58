"""Webhooks to a real loopback receiver: Slack-shaped JSON, retries with backoff, a bounded
queue that drops (and counts) instead of slowing the caller, and the ``webhook`` action."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from rampart.inprocess.config import WebhookSettings
from rampart.inprocess.context import bind
from rampart.inprocess.webhook import WebhookSender

from .conftest import request_ctx

pytestmark = pytest.mark.timeout(60)


@dataclass
class Receiver:
    server: TestServer
    posts: list[Any] = field(default_factory=list)
    fail_first: int = 0
    delay: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/hook"

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Poll (the receiver runs on this loop, the sender on its own thread)."""
        deadline = time.monotonic() + timeout
        while len(self.posts) < count and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    box: dict[str, Receiver] = {}

    async def hook(request: web.Request) -> web.Response:
        rec = box["r"]
        rec.posts.append(await request.json())
        if rec.delay:
            await asyncio.sleep(rec.delay)
        if len(rec.posts) <= rec.fail_first:
            return web.Response(status=500)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    box["r"] = Receiver(server)
    yield box["r"]
    await server.close()


async def test_retries_with_backoff_then_delivers(receiver: Receiver) -> None:
    receiver.fail_first = 2
    sender = WebhookSender(WebhookSettings(url=receiver.url, retries=3, backoff_seconds=0.05))
    try:
        assert sender.submit("hello")
        await receiver.wait_for(3)
        await asyncio.sleep(0.1)
    finally:
        await asyncio.to_thread(sender.close)
    assert receiver.posts == [{"text": "hello"}] * 3
    assert (sender.sent, sender.failed, sender.dropped) == (1, 0, 0)


async def test_gives_up_after_retries(receiver: Receiver) -> None:
    receiver.fail_first = 100
    sender = WebhookSender(WebhookSettings(url=receiver.url, retries=1, backoff_seconds=0.02))
    sender.submit("x")
    await receiver.wait_for(2)
    await asyncio.to_thread(sender.close)
    assert len(receiver.posts) == 2
    assert (sender.sent, sender.failed) == (0, 1)


async def test_full_queue_drops_without_blocking(receiver: Receiver) -> None:
    receiver.delay = 0.3
    sender = WebhookSender(WebhookSettings(url=receiver.url, queue_size=2, retries=0))
    sender.start()
    started = time.perf_counter()
    accepted = [sender.submit(f"m{i}") for i in range(10)]
    elapsed = time.perf_counter() - started
    assert elapsed < 0.05
    assert accepted.count(True) == 2
    assert sender.dropped == 8
    await asyncio.to_thread(sender.close, 5.0)
    assert sender.sent == 2


async def test_webhook_action_posts_off_the_request_path(make_guard, receiver: Receiver) -> None:
    make_guard("block", detectors={"sql": {"action": "webhook"}}, webhook={"url": receiver.url})
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER)")
    with bind(request_ctx("rid-hook", id="1 OR 1=1")):
        conn.execute("SELECT * FROM t WHERE id = 1 OR 1=1")  # webhook does not block
    await receiver.wait_for(1)
    [post] = receiver.posts
    assert "sql_injection" in post["text"]
    assert "rid-hook" in post["text"]
