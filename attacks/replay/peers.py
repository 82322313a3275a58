"""Peers: protection products replayed as configurations beside rampart's own layers.

A peer is any running layer the harness can send traffic through: the built-in
``nginx+crs`` (Debian's nginx with ModSecurity v3 and OWASP CRS, started here in block mode
in front of a lab with the sink guard off, :mod:`rampart.loadtests.nginx_peer`), the built-in
runtime-protection peers (``aikido``: Aikido Zen inside the ASGI lab, :mod:`rampart.labapp.peers`;
that lab is also the oracle), or a server given by URL with a name of the user's choosing
(``--targets lab=URL,cloudwaf=URL``): a perimeter in front of the ``lab`` target, or a whole
stack whose requests reach it.

Every case is sent through each peer once (pass ``peer:<name>``). Its verdict comes from a
rampart harness header when the peer sends one, else from the status code: one of
:data:`BLOCK_STATUSES` is a block, recorded with the detection ``status:<code>`` so the
summary can discount a status the unprotected lab itself answered (the lab's staff-only
catalogue answers 403). The oracle is asked about the peer pass's own request ids, so a
working exploit is *stopped* by a peer only when the peer blocked it and its effect is gone.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from rampart.attacks.replay.configs import LAYERS
from rampart.attacks.replay.records import LayerVerdict
from rampart.procs import spawn
from rampart.verdicts import parse_verdict_header

__all__ = [
    "BLOCK_STATUSES",
    "BUILTIN_PEERS",
    "IN_APP_PEERS",
    "PEER_NAME",
    "Peer",
    "in_app_peer_missing",
    "peer_pass_name",
    "peer_verdict",
    "start_builtin_peer",
    "start_in_app_peer",
    "status_detection",
]

BLOCK_STATUSES: frozenset[int] = frozenset({403, 406, 418, 429})
BUILTIN_PEERS: dict[str, str] = {
    "nginx+crs": "Debian nginx + ModSecurity v3 + OWASP CRS (block mode), sink guard off",
    "aikido": "Aikido Zen (AIKIDO_BLOCK=true, local only, no token) in the ASGI lab, sink guard off",
    "asgi": "the ASGI lab as in-app peers run it, no protection (their baseline)",
}
# Built-in peers that run inside a lab of their own (the harness asks that lab's oracle), with
# the Python package each needs (the ``peers`` extra).
IN_APP_PEERS: dict[str, str] = {"aikido": "aikido_zen", "asgi": "starlette"}
PEER_HEADER = "x-rampart-peer"  # rampart.labapp.asgi.PEER_HEADER: an in-app product's block
PEER_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]{0,39}$")
_SEVERITY = {"allow": 0, "detect": 1, "block": 2}


@dataclass(frozen=True, slots=True)
class Peer:
    """A configuration that is somebody else's product: started here (``url`` None) or running."""

    name: str
    description: str
    url: str | None = None


def peer_pass_name(name: str) -> str:
    return f"peer:{name}"


def status_detection(status: int) -> str:
    return f"status:{status}"


def peer_verdict(status: int | None, headers: Mapping[str, str]) -> LayerVerdict:
    """The peer's verdict: its most severe harness header if it sends any, else its status code."""
    found: LayerVerdict | None = None
    for header in (*(spec.header.lower() for spec in LAYERS.values()), PEER_HEADER):
        try:
            parsed = parse_verdict_header(headers.get(header))
        except ValueError:
            continue
        if parsed is None:
            continue
        if found is None or _SEVERITY[parsed.decision] > _SEVERITY[found.decision]:
            found = LayerVerdict(
                decision=parsed.decision, score=parsed.score, rules=parsed.rules, detections=parsed.detections
            )
    if found is not None:
        return found
    if status in BLOCK_STATUSES:
        return LayerVerdict(decision="block", detections=(status_detection(status),))
    return LayerVerdict(decision="allow")


def in_app_peer_missing(name: str) -> str | None:
    """Why the in-app peer ``name`` cannot run here (its package is missing), or ``None``."""
    import importlib.util

    module = IN_APP_PEERS[name]
    if importlib.util.find_spec(module) is None:
        return f"the Python package {module!r} is not installed (pip install 'rampart[peers]')"
    return None


@contextlib.asynccontextmanager
async def start_in_app_peer(
    name: str, *, timeout: float = 180.0, lab_args: Sequence[str] = ()
) -> AsyncIterator[str]:
    """Start the ASGI lab protected by the product ``name`` (:mod:`rampart.labapp.peers`); yields its
    URL, which is both the peer and the lab whose oracle judges it.

    Raises ``RuntimeError`` naming what is missing when it cannot run here."""
    if name not in IN_APP_PEERS:
        raise ValueError(f"unknown in-app peer {name!r}; use {', '.join(IN_APP_PEERS)}")
    why = in_app_peer_missing(name)
    if why is not None:
        raise RuntimeError(why)
    argv = [sys.executable, "-m", "rampart.labapp.peers", name, "--port", "0", *lab_args]
    async with spawn(argv, timeout=timeout) as lab:
        yield lab.url


@contextlib.asynccontextmanager
async def start_builtin_peer(name: str, upstream: str, *, paranoia: int = 1) -> AsyncIterator[str]:
    """Start the built-in perimeter peer ``name`` in front of ``upstream``; yields its URL.

    Raises ``RuntimeError`` naming what is missing when it cannot run here."""
    if name != "nginx+crs":
        raise ValueError(f"unknown built-in peer {name!r}; use {', '.join(BUILTIN_PEERS)}")
    from rampart.loadtests.nginx_peer import start_nginx_peer

    async with start_nginx_peer(upstream, crs=True, paranoia=paranoia) as url:
        yield url
