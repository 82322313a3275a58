"""The ASGI lab protected by a runtime-protection product (a *peer* of rampart's sink guard).

    python -m rampart.labapp.peers aikido [--port N] [--data-dir DIR]
    python -m rampart.labapp.peers asgi             # the same lab with no product: their baseline

Products of this kind must be set up before the web framework and the database drivers are
imported, so this module imports nothing of the lab until the product is on; then it runs
``rampart lab --asgi`` in this process. It prints the lab's ready line, and the product's
blocks reach the client as ``403`` with ``X-Rampart-Peer: block; detections=<product>:<what>``
(an app protected by the product would otherwise answer them with a 500).

``aikido``: Aikido Zen (PyPI ``aikido_zen``, the ``peers`` extra) in blocking mode and local
only: without ``AIKIDO_TOKEN`` Zen starts no background process and reports nothing; the token
is removed from the environment, the API endpoints point at a closed loopback port, Zen is
started with ``mode="daemon_disabled"`` (no background process at all), and the whole process
runs under rampart's loopback-only socket guard. Zen hooks pymongo's synchronous API only, so
this lab uses the ``motor`` driver (``RAMPART_MONGO_DRIVER``, overridable) instead of pymongo's
asyncio client, which Zen does not see.

Exit codes: 0 after SIGINT/SIGTERM, 2 for bad options, 4 when the product is not installed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

__all__ = ["PRODUCTS", "main"]

NOT_INSTALLED = 4
_CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, nothing leaves the machine


def _aikido() -> tuple[type[BaseException], str]:
    for name in ("AIKIDO_TOKEN", "AIKIDO_DISABLE", "AIKIDO_DEBUG"):
        os.environ.pop(name, None)
    # Zen hooks pymongo's synchronous Collection, not its asyncio client: the lab talks to
    # MongoDB through motor (sync pymongo underneath), so Zen sees the lab's queries
    os.environ.setdefault("RAMPART_MONGO_DRIVER", "motor")
    os.environ.update(
        {
            "AIKIDO_BLOCK": "true",
            "AIKIDO_ENDPOINT": _CLOSED,
            "AIKIDO_REALTIME_ENDPOINT": _CLOSED,
            "AIKIDO_TRUST_PROXY": "false",
        }
    )
    import aikido_zen
    from aikido_zen.errors import AikidoException

    aikido_zen.protect(mode="daemon_disabled")
    return AikidoException, "aikido"


def _bare() -> tuple[type[BaseException], str] | None:
    """No product: the lab exactly as the products get it (ASGI, motor), for their baseline."""
    os.environ.setdefault("RAMPART_MONGO_DRIVER", "motor")
    return None


PRODUCTS: dict[str, tuple[str, Callable[[], tuple[type[BaseException], str] | None]]] = {
    "aikido": ("aikido_zen", _aikido),
    "asgi": ("starlette", _bare),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in PRODUCTS:
        print(
            f"usage: python -m rampart.labapp.peers {{{','.join(PRODUCTS)}}} [rampart lab options]",
            file=sys.stderr,
        )
        return 2
    product, rest = args[0], args[1:]
    if "--guard" in rest or "--asgi" in rest:
        message = "rampart.labapp.peers: --guard/--asgi are set here (the product is the protection)"
        print(message, file=sys.stderr)
        return 2
    module, start = PRODUCTS[product]
    try:
        blocking = start()
    except ImportError as exc:
        print(
            f"rampart.labapp.peers: {product} needs the Python package {module!r} ({exc}); "
            "install it with: pip install 'rampart[peers]'",
            file=sys.stderr,
        )
        return NOT_INSTALLED
    if blocking is not None:
        from rampart.labapp.asgi import register_peer_block

        register_peer_block(*blocking)
    from rampart.cli import main as rampart_main

    return rampart_main(["lab", "--asgi", *rest])


if __name__ == "__main__":
    sys.exit(main())
