"""Run aiohttp apps in the foreground the way DESIGN.md asks: one ready line, clean exit
on SIGINT/SIGTERM, everything started is stopped."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from rampart.procs import ready_line

__all__ = ["Listener", "run_forever", "serve_apps"]


@dataclass
class Listener:
    app: web.Application
    host: str
    port: int
    name: str | None = None  # announce a ready line for this listener when set
    runner: Callable[..., web.AppRunner] = web.AppRunner  # called as runner(app, **kwargs)


async def serve_apps(
    listeners: Sequence[Listener],
    *,
    on_ready: Callable[[list[tuple[str, int]]], Awaitable[None]] | None = None,
    stop_event: asyncio.Event | None = None,
    shutdown_timeout: float = 5.0,
    handler_args: dict[str, Any] | None = None,
) -> None:
    """Start every listener, print ready lines, wait for a signal (or ``stop_event``)."""
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runners: list[web.AppRunner] = []
    try:
        bound: list[tuple[str, int]] = []
        for lst in listeners:
            runner = lst.runner(
                lst.app, access_log=None, shutdown_timeout=shutdown_timeout, **(handler_args or {})
            )
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, lst.host, lst.port, reuse_address=True)
            await site.start()
            server = site._server
            assert server is not None
            sockets = getattr(server, "sockets", None) or []
            port = sockets[0].getsockname()[1] if sockets else lst.port
            bound.append((lst.host, port))
        if on_ready is not None:
            await on_ready(bound)
        for lst, (host, port) in zip(listeners, bound, strict=True):
            if lst.name:
                print(ready_line(lst.name, host, port), flush=True)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        for runner in reversed(runners):
            await runner.cleanup()


def run_forever(main: Callable[[], Coroutine[Any, Any, None]]) -> int:
    """``asyncio.run`` with a clean exit code and no traceback on Ctrl-C."""
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # bind errors and the like: say it plainly
        print(f"rampart: {exc}", file=sys.stderr)
        return 1
    return 0
