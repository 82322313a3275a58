"""``python -m rampart.healthcheck URL``: exit 0 when URL answers, 1 otherwise (container
health checks; the image has no curl).

``http://...``: a GET answered with a status below 400 within the timeout.
``tcp://HOST:PORT``: a TCP connection is accepted (e.g. a Locust worker's master port).
"""

from __future__ import annotations

import socket
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

__all__ = ["check", "main"]

TIMEOUT_S = 4.0


def check(url: str, *, timeout: float = TIMEOUT_S) -> str | None:
    """None when healthy, else why not."""
    parts = urlsplit(url)
    if parts.scheme == "tcp":
        if not parts.hostname or not parts.port:
            return f"tcp URL needs a host and a port, got {url!r}"
        try:
            with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
                return None
        except OSError as exc:
            return f"{url}: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"use an http://, https:// or tcp:// URL, got {url!r}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (scheme checked above)
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"
    return None if status < 400 else f"{url}: HTTP {status}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m rampart.healthcheck URL", file=sys.stderr)
        return 2
    problem = check(args[0])
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
