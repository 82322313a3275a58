"""Carry the request context into threads where Python would lose it.

``asyncio.to_thread`` already copies the context; ``loop.run_in_executor`` and
``ThreadPoolExecutor.submit`` do not (motor runs every pymongo call through one, aiohttp's
``ThreadedResolver`` resolves through ``loop.getaddrinfo`` -> ``run_in_executor``). Both are
patched to run the callable inside ``contextvars.copy_context()`` -- only while a request
context is bound, so other work pays nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
from collections.abc import Callable
from typing import Any

from rampart.inprocess.context import current
from rampart.inprocess.patching import Patcher

__all__ = ["install", "uninstall"]

_patcher: Patcher | None = None


def _in_context(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn if isinstance(fn, _Carried) else _Carried(contextvars.copy_context(), fn)


def _make_run_in_executor(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def run_in_executor(
        self: asyncio.AbstractEventLoop, executor: Any, func: Callable[..., Any], *args: Any
    ) -> Any:
        if current() is not None:
            func = _in_context(func)
        return original(self, executor, func, *args)

    return run_in_executor


def _make_submit(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def submit(
        self: concurrent.futures.Executor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Any:
        if current() is not None:
            fn = _in_context(fn)
        return original(self, fn, *args, **kwargs)

    return submit


class _Carried:
    """A callable bound to a copied context (a class so it is recognised and not re-wrapped)."""

    __slots__ = ("ctx", "fn")

    def __init__(self, ctx: contextvars.Context, fn: Callable[..., Any]) -> None:
        self.ctx = ctx
        self.fn = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.ctx.run(self.fn, *args, **kwargs)


def install() -> None:
    global _patcher
    if _patcher is not None:
        return
    patcher = Patcher()
    patcher.wrap(asyncio.BaseEventLoop, "run_in_executor", _make_run_in_executor)
    patcher.wrap(concurrent.futures.ThreadPoolExecutor, "submit", _make_submit)
    _patcher = patcher


def uninstall() -> None:
    global _patcher
    if _patcher is not None:
        _patcher.undo()
    _patcher = None
