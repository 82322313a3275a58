"""Run aiohttp apps in the foreground the way docs/CONTRACTS.md asks: one ready line, clean exit
on SIGINT/SIGTERM, everything started is stopped."""

from __future__ import annotations

import asyncio
import errno
import gc
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from rampart.ports import PortInUse, port_holder
from rampart.procs import ready_line

__all__ = ["ListenError", "Listener", "run_forever", "serve_apps", "settle_heap"]


@dataclass
class Listener:
    """One app on one address: TCP ``host:port``, or a Unix socket when ``path`` is set."""

    app: web.Application
    host: str
    port: int
    name: str | None = None  # announce a ready line for this listener when set
    runner: Callable[..., web.AppRunner] = web.AppRunner  # called as runner(app, **kwargs)
    option: str = "--port"  # the command-line option that sets this port (named in errors)
    reuse_port: bool = False  # SO_REUSEPORT: several processes share the port
    path: str | None = None


class ListenError(OSError):
    """A listener could not bind for a reason other than a busy port (e.g. permission)."""

    def __str__(self) -> str:
        return str(self.strerror)


def bind_error(exc: OSError, host: str, port: int, option: str) -> OSError:
    """``exc`` from a bind as an error that names the address, the holder and the fix."""
    if exc.errno == errno.EADDRINUSE:
        return PortInUse(host, port, port_holder(port), option)
    hint = "ports below 1024 need privileges; " if exc.errno == errno.EACCES else ""
    return ListenError(
        exc.errno or 0,
        f"cannot listen on {host}:{port}: {exc.strerror or exc}; {hint}choose another address or port "
        f"with {option}",
    )


async def _start(runner: web.AppRunner, lst: Listener) -> tuple[str, int]:
    site: web.BaseSite
    if lst.path is not None:
        site = web.UnixSite(runner, lst.path)
        await site.start()
        return (lst.path, 0)
    site = web.TCPSite(runner, lst.host, lst.port, reuse_address=True, reuse_port=lst.reuse_port or None)
    try:
        await site.start()
    except OSError as exc:
        raise bind_error(exc, lst.host, lst.port, lst.option) from exc
    server = site._server
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    return (lst.host, sockets[0].getsockname()[1] if sockets else lst.port)


async def serve_apps(
    listeners: Sequence[Listener],
    *,
    on_ready: Callable[[list[tuple[str, int]]], Awaitable[None]] | None = None,
    stop_event: asyncio.Event | None = None,
    shutdown_timeout: float = 5.0,
    handler_args: dict[str, Any] | None = None,
    signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """Start every listener, print ready lines, wait for one of ``signals`` (or ``stop_event``)."""
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals:
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
            bound.append(await _start(runner, lst))
        if on_ready is not None:
            await on_ready(bound)
        for lst, (host, port) in zip(listeners, bound, strict=True):
            if lst.name:
                print(ready_line(lst.name, host, port), flush=True)
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        for runner in reversed(runners):
            await runner.cleanup()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (the ``fast`` extra), else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def settle_heap(*, again: bool = False) -> None:
    """Move every object alive now out of the cyclic garbage collector's reach (``gc.freeze``).

    A server builds its long-lived objects at start: rule sets, compiled patterns, engines,
    caches, the app. None of them becomes garbage while it serves. Left in the collector's
    generations, every full collection walks all of them again, and the engines allocate
    enough per request that full collections keep coming. Call this once the server is
    serving. ``again``: after a reload, first release what the last call froze (the retired
    engines become collectable), then collect and freeze again; a process that never settled
    (an app served in-process by a test) is left alone."""
    if again:
        if not gc.get_freeze_count():
            return
        gc.unfreeze()
    gc.collect()
    gc.freeze()


def run_forever(
    main: Callable[[], Coroutine[Any, Any, None]], *, command: str = "rampart", fast: bool = False
) -> int:
    """``asyncio.run`` with a clean exit code and no traceback on Ctrl-C.

    A listener that cannot bind exits 2 with a message naming the address, the holder and
    the option to change; other OS errors exit 1. ``fast`` runs on uvloop when installed.
    """
    try:
        asyncio.run(main(), loop_factory=loop_factory() if fast else None)
    except KeyboardInterrupt:
        return 130
    except (PortInUse, ListenError) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 1
    return 0
