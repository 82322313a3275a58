"""One gateway worker process, started by :mod:`rampart.gateway.workers.supervisor` (never by hand).

Reads its spec (settings, metrics socket path) as one JSON line on stdin, builds its own
engines, serves the proxy on the shared port (``SO_REUSEPORT``) and its admin app on a
private Unix socket the supervisor reads, then prints ``{"pid": N}`` on stdout. SIGTERM
stops it gracefully (it stops accepting; in-flight requests get :data:`DRAIN_S` to finish); it
also gets SIGTERM when the supervisor dies. The supervisor's SIGHUP reaches it as ``POST
/reload`` on the private socket when only rule settings changed: the engines are swapped in
place (:mod:`rampart.gateway.reload`), nothing is restarted.

    python -m rampart.gateway.workers.worker < spec.json
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys
from typing import Any

__all__ = ["DRAIN_S", "main"]

_PR_SET_PDEATHSIG = 1
DRAIN_S = 10.0  # in-flight requests get this long after SIGTERM (the supervisor waits longer)


def _die_with_parent() -> None:
    """Linux: get SIGTERM when the supervisor dies, so no worker outlives it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return


def _admin_app(gw: Any) -> Any:
    """The worker's private admin app (supervisor only, over its Unix socket): ``/healthz``,
    ``/metrics`` and ``POST /reload`` (``{"settings": ...}``: swap the engines in place,
    :mod:`rampart.gateway.reload`; answers ``{"reloaded": bool, "error": str | null}``)."""
    from aiohttp import web

    from rampart.gateway.admin import create_admin_app
    from rampart.gateway.config import GatewaySettings
    from rampart.gateway.reload import Reloader

    app = create_admin_app(gw)
    reloader = Reloader(gw)

    async def reload(request: web.Request) -> web.Response:
        try:
            fresh = GatewaySettings.model_validate((await request.json())["settings"])
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"reloaded": False, "error": f"bad reload request: {exc}"}, status=400)
        done = await reloader.reload_to(fresh)
        return web.json_response({"reloaded": done, "error": None if done else reloader.last_error})

    app.router.add_post("/reload", reload)
    return app


def main() -> int:
    from rampart import netguard

    _die_with_parent()
    # Ctrl-C and a terminal hangup reach the whole process group: the supervisor decides
    # (it stops or reloads the workers with SIGTERM).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    netguard.install_from_env()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    spec: dict[str, Any] = json.loads(sys.stdin.readline())
    from rampart.gateway.app import build_gateway, create_app, runner_factory
    from rampart.gateway.config import GatewaySettings
    from rampart.serve import Listener, run_forever, serve_apps, settle_heap

    settings = GatewaySettings.model_validate(spec["settings"])
    try:
        gw = build_gateway(settings)
    except Exception as exc:  # the same start-up failures the single-process gateway reports
        print(f"rampart gateway: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    listeners = [
        Listener(
            create_app(settings, gateway=gw),
            settings.host,
            settings.port,
            reuse_port=True,
            runner=runner_factory(settings),
        ),
        Listener(_admin_app(gw), "", 0, path=spec["socket"]),
    ]

    async def announce(bound: list[tuple[str, int]]) -> None:
        settle_heap()
        print(json.dumps({"pid": os.getpid()}), flush=True)

    async def serve() -> None:
        # SIGTERM (a stop, or retirement after a SIGHUP reload): stop accepting, let requests in
        # flight finish for up to DRAIN_S, then close
        await serve_apps(listeners, on_ready=announce, signals=(signal.SIGTERM,), shutdown_timeout=DRAIN_S)

    return run_forever(serve, command="rampart gateway worker", fast=True)


if __name__ == "__main__":
    sys.exit(main())
