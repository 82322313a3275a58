"""Transformations: pure ``str -> (str, changed)`` functions looked up by name.

Each family lives in its own module and registers its functions on import (in
:mod:`~rampart.gateway.engines.native.transforms.registry`). Rules name a chain
of transformations; :func:`apply_chain` runs one, caching results for short repeated values
(header values, common parameters) across requests.
"""

from __future__ import annotations

from rampart.accel import extend

__path__ = extend(__path__, __name__)  # compiled modules first, when current (rampart.accel)

from collections.abc import Sequence
from functools import lru_cache

from rampart.gateway.engines.native.transforms import b64, css, html, js, path, shell, sql, text, url  # noqa: F401
from rampart.gateway.engines.native.transforms.registry import (
    Transform,
    UnknownTransformError,
    get,
    names,
    register,
    transforms,
)

__all__ = [
    "Transform",
    "UnknownTransformError",
    "apply_chain",
    "apply_chain_tuple",
    "get",
    "names",
    "register",
    "transform_for_scan",
    "transforms",
]

_CACHEABLE_LEN = 512


# chain -> (the registry version it was looked up at, its functions)
_STEPS: dict[tuple[str, ...], tuple[int, tuple[Transform, ...]]] = {}


def _steps(chain: tuple[str, ...]) -> tuple[Transform, ...]:
    """The chain's functions, looked up once per version of the registry."""
    known = _STEPS.get(chain)
    if known is not None and known[0] == transforms.version:
        return known[1]
    steps = tuple(get(name) for name in chain)
    if len(_STEPS) >= 1024:
        _STEPS.clear()
    _STEPS[chain] = (transforms.version, steps)
    return steps


def _run(chain: tuple[str, ...], value: str) -> str:
    for step in _steps(chain):
        value = step(value)[0]
    return value


@lru_cache(maxsize=8192)
def _run_cached(chain: tuple[str, ...], value: str) -> str:
    return _run(chain, value)


def apply_chain(chain: Sequence[str], value: str) -> str:
    """Run the named transformations in order; short values are cached across requests."""
    return apply_chain_tuple(tuple(chain), value)


def apply_chain_tuple(chain: tuple[str, ...], value: str) -> str:
    """:func:`apply_chain` for a chain already held as a tuple."""
    if not chain:
        return value
    if len(value) <= _CACHEABLE_LEN:
        return _run_cached(chain, value)
    return _run(chain, value)


def _with_bytes(chain: tuple[str, ...], value: str) -> tuple[str, bytes]:
    out = _run(chain, value)
    return out, out.encode("utf-8", "replace")


_with_bytes_cached = lru_cache(maxsize=8192)(_with_bytes)


def transform_for_scan(chain: tuple[str, ...], value: str) -> tuple[str, bytes]:
    """The transformed value and its UTF-8 bytes (what the engine scans); cached for short values."""
    if len(value) <= _CACHEABLE_LEN:
        return _with_bytes_cached(chain, value)
    return _with_bytes(chain, value)
