"""The request context reaches the threads where sinks run: run_in_executor (default and
custom executors), ThreadPoolExecutor.submit, aiohttp's ThreadedResolver (getaddrinfo in the
default executor) and asyncio.to_thread (which copies on its own)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import pytest
from aiohttp.resolver import ThreadedResolver

from rampart.inprocess import propagation
from rampart.inprocess.context import bind, current
from rampart.inprocess.patching import Patcher

from .conftest import request_ctx


@pytest.fixture
def propagating() -> Any:
    propagation.install()
    yield
    propagation.uninstall()


def _seen() -> tuple[str | None, str]:
    ctx = current()
    return (ctx.request_id if ctx else None), threading.current_thread().name


async def test_run_in_executor_default_and_custom(propagating: None) -> None:
    loop = asyncio.get_running_loop()
    with (
        concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="custom") as pool,
        bind(request_ctx("rid-exec")),
    ):
        default = await loop.run_in_executor(None, _seen)
        custom = await loop.run_in_executor(pool, _seen)
    assert default[0] == custom[0] == "rid-exec"
    assert custom[1].startswith("custom")


def test_thread_pool_submit(propagating: None) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with bind(request_ctx("rid-submit")):
            future = pool.submit(_seen)
        assert future.result(5)[0] == "rid-submit"
        assert pool.submit(_seen).result(5)[0] is None


async def test_without_patch_context_is_lost() -> None:
    loop = asyncio.get_running_loop()
    with bind(request_ctx("rid-lost")):
        assert (await loop.run_in_executor(None, _seen))[0] is None


async def test_asyncio_to_thread_copies_already() -> None:
    with bind(request_ctx("rid-thread")):
        assert (await asyncio.to_thread(_seen))[0] == "rid-thread"


async def test_threaded_resolver_sees_context(propagating: None) -> None:
    seen: list[str | None] = []
    patcher = Patcher()

    def on_getaddrinfo(args: tuple[Any, ...]) -> None:
        if args[0] == "localhost" and threading.current_thread() is not threading.main_thread():
            ctx = current()
            seen.append(ctx.request_id if ctx else None)

    patcher.audit("socket.getaddrinfo", on_getaddrinfo)
    try:
        resolver = ThreadedResolver()
        with bind(request_ctx("rid-dns")):
            await resolver.resolve("localhost", 80)
        await resolver.close()
    finally:
        patcher.undo()
    assert seen
    assert set(seen) == {"rid-dns"}
