"""Serve a WSGI or ASGI app on a loopback port in a background thread (werkzeug / uvicorn),
and a tiny internal-service simulator for outbound calls; used by the peer benchmark and its
tests."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Served", "Simulator", "serve_asgi", "serve_wsgi", "start_simulator"]

SECRET = "internal secret"  # noqa: S105 - the page an SSRF must not reach
PARTNER_PAGE = "partner page"


@dataclass
class Served:
    """A running server: its base URL and how to stop it."""

    base: str
    stop: Callable[[], None]


def serve_asgi(app: Any, *, loop: str = "asyncio") -> Served:
    """``loop``: uvicorn's event loop (``asyncio``, or ``uvloop``, which resolves names in C
    and so past a hosts table installed on ``socket.getaddrinfo``)."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", loop=loop)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        raise RuntimeError("uvicorn did not start within 15 s")
    port = server.servers[0].sockets[0].getsockname()[1]

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return Served(f"http://127.0.0.1:{port}", stop)


def serve_wsgi(app: Any) -> Served:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(10)

    return Served(f"http://127.0.0.1:{server.server_port}", stop)


@dataclass
class Simulator:
    """An internal service on loopback: ``/admin`` answers :data:`SECRET`, ``/ok`` a partner
    page, ``/redirect?to=URL`` redirects there, ``/bounce`` redirects to a fixed internal
    URL (``bounce_to``) that no request input names. ``hits`` lists the paths served."""

    port: int
    stop: Callable[[], None]
    hits: list[str] = field(default_factory=list)
    bounce_to: list[str] = field(default_factory=list)


def start_simulator() -> Simulator:
    hits: list[str] = []
    bounce: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            hits.append(parts.path)
            if parts.path == "/redirect":
                self._redirect(parse_qs(parts.query).get("to", ["/ok"])[0])
            elif parts.path == "/bounce":
                self._redirect(bounce[0] if bounce else "/ok")
            else:
                body = (SECRET if parts.path == "/admin" else PARTNER_PAGE).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(10)

    return Simulator(server.server_address[1], stop, hits, bounce)
