"""``rampart lab``: run the deliberately vulnerable reference lab in the foreground."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

WARNING = (
    "!!! rampart lab: VULNERABLE BY DESIGN -- injectable endpoints, a shell, eval and "
    "unsafe YAML. Keep it on loopback and never expose it. !!!"
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "lab",
        help="run the deliberately vulnerable reference lab (loopback only)",
        description="Run the deliberately vulnerable reference lab. " + WARNING,
    )
    p.add_argument("--port", type=int, default=8000, help="port to listen on (0 = any free port)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (loopback only unless forced)")
    p.add_argument(
        "--i-know-this-is-vulnerable-bind-anyway",
        dest="force_bind",
        action="store_true",
        help="allow a non-loopback bind address (dangerous)",
    )
    p.add_argument(
        "--guard", choices=("off", "detect", "block"), default="off", help="in-process sink guard mode"
    )
    p.add_argument(
        "--harness", action="store_true", help="harness mode: the guard discloses its verdict header"
    )
    p.add_argument(
        "--asgi",
        action="store_true",
        help="serve the same endpoints and oracle as an ASGI app (Starlette under uvicorn)",
    )
    p.add_argument("--data-dir", type=Path, default=None, help="lab data folder (default: a temp folder)")
    p.add_argument("--incidents", type=Path, default=None, help="JSONL file for the guard's incidents")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from rampart.labapp.settings import LabSettings

    print(WARNING, file=sys.stderr, flush=True)
    try:
        settings = LabSettings(
            host=args.host,
            port=args.port,
            allow_public_bind=args.force_bind,
            guard=args.guard,
            harness=args.harness,
            server="asgi" if args.asgi else "aiohttp",
            data_dir=args.data_dir,
            incidents=args.incidents,
        )
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            print(f"rampart lab: {where}: {err['msg']}", file=sys.stderr)
        return 2
    from rampart import netguard
    from rampart.labapp.guard import GuardUnavailable
    from rampart.serve import run_forever

    if _services_on_loopback(settings):
        netguard.install()

    try:
        return run_forever(lambda: _main(settings), command="rampart lab")
    except GuardUnavailable as exc:
        print(f"rampart lab: {exc}", file=sys.stderr)
        return 3


def _services_on_loopback(settings: Any) -> bool:
    """True when every database the lab talks to is on this machine: then the whole lab
    process runs under the loopback-only socket guard (compose points it at other hosts)."""
    from urllib.parse import urlsplit

    from rampart.netguard import is_loopback_host

    urls = [u for u in (settings.mongodb_url, settings.database_url) if u]
    return all((host := urlsplit(u).hostname) is not None and is_loopback_host(host) for u in urls)


async def _main(settings: Any) -> None:
    import asyncio
    import errno
    import signal

    from rampart.labapp.lifecycle import start_lab
    from rampart.procs import ready_line
    from rampart.serve import bind_error

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with start_lab(settings) as lab:
            if settings.host not in ("127.0.0.1", "localhost", "::1"):
                print(
                    f"!!! the vulnerable lab listens on {lab.host}:{lab.port} !!!",
                    file=sys.stderr,
                    flush=True,
                )
            print(ready_line("lab", lab.host, lab.port), flush=True)
            await stop.wait()
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise bind_error(exc, settings.host, settings.port, "--port") from exc
        raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
