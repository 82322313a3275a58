"""The request context: the user input of the request being served, in a ContextVar.

Framework middleware (``rampart.inprocess.frameworks``) builds one :class:`RequestContext` per
request and sets it with :func:`bind`; sinks read it with :func:`current`. Values are
flattened once into :class:`UserInput` items (source path plus value) so detectors can
match them against a sink argument cheaply.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RequestContext", "UserInput", "bind", "current", "flatten"]


@dataclass(slots=True, unsafe_hash=True)
class UserInput:
    """One piece of user input. ``source`` names where it came from, e.g.
    ``query.category[$ne]``, ``body.username``, ``cookie.session``, ``header.user-agent``.
    ``value`` is the raw value: a string, or a dict/list when the client sent an object
    (JSON or bracket notation) -- detectors that care about structure (NoSQL) use it.

    Treat it as immutable (hashable like a frozen dataclass). It is not declared
    ``frozen``: a frozen dataclass builds each instance through ``object.__setattr__``
    (~520 ns against ~200 ns), and capture builds one per query pair, JSON key and value,
    cookie and header of every request."""

    source: str
    value: Any

    @property
    def text(self) -> str:
        return self.value if isinstance(self.value, str) else str(self.value)


@dataclass
class RequestContext:
    request_id: str
    method: str
    path: str
    client_ip: str
    inputs: list[UserInput] = field(default_factory=list)
    # second-order taint: results read from a database during this request, kept as read
    # (references, no copy) and walked into ``db_values`` only when a response needs them
    # (``rampart.inprocess.sinks._taint.tainted``): JSON APIs never pay for the walk
    db_reads: list[Any] = field(default_factory=list)
    # markup-looking strings found in ``db_reads`` so far
    db_values: list[str] = field(default_factory=list)
    # detections made while serving this request (the middleware reports/acts on them)
    detections: list[Any] = field(default_factory=list)
    # what capture could not read the way the app will (``rampart.interpretation.Anomaly``
    # names: repeated charset, values or nesting past the limits); the middleware judges
    # them with the ``interpretation`` detector before the handler runs
    anomalies: list[str] = field(default_factory=list)
    # what sinks derive once per request from the inputs and hand to their (pure) detectors,
    # e.g. the NoSQL sink's client-sent operator objects; keyed by sink
    memo: dict[str, Any] = field(default_factory=dict)

    def strings(self, min_len: int = 1) -> Iterator[UserInput]:
        """Scalar string inputs (leaves), the ones substring-based detectors look for."""
        for item in self.inputs:
            if isinstance(item.value, str) and len(item.value) >= min_len:
                yield item


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "rampart_request_context", default=None
)


# The request being served, or None. The ContextVar's own bound ``get`` (a C method): sinks
# call it on every guarded operation, and a Python wrapper would add a frame to each call.
current: Callable[[], RequestContext | None] = _current.get


class bind:
    """``with bind(ctx):`` makes ``ctx`` the current request context for the block. A class
    rather than a generator-based context manager: middleware enters one per request."""

    __slots__ = ("_ctx", "_token")

    def __init__(self, ctx: RequestContext) -> None:
        self._ctx = ctx

    def __enter__(self) -> RequestContext:
        self._token = _current.set(self._ctx)
        return self._ctx

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)


def flatten(prefix: str, value: Any, out: list[UserInput], *, max_items: int = 2000) -> None:
    """Add ``value`` and, for containers, every key and nested value under ``prefix``.

    Object values are kept as objects too (NoSQL detection needs ``{"$ne": 1}`` whole);
    keys are inputs of their own (an attacker controls ``{"$where": ...}`` keys).
    """
    if len(out) >= max_items:
        return
    if isinstance(value, Mapping):
        out.append(UserInput(prefix, dict(value)))
        for k, v in value.items():
            key = str(k)
            out.append(UserInput(f"{prefix}.<key>", key))
            flatten(f"{prefix}.{key}", v, out, max_items=max_items)
    elif isinstance(value, list | tuple):
        out.append(UserInput(prefix, list(value)))
        for i, v in enumerate(value):
            flatten(f"{prefix}[{i}]", v, out, max_items=max_items)
    elif value is None or isinstance(value, bool | int | float):
        out.append(UserInput(prefix, "" if value is None else str(value)))
    else:
        out.append(UserInput(prefix, value if isinstance(value, str) else str(value)))
