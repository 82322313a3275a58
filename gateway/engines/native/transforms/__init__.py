"""Transformations: pure ``str -> (str, changed)`` functions looked up by name.

Each family lives in its own module and registers its functions on import. Rules name a chain
of transformations; :func:`apply_chain` runs one, caching results for short repeated values
(header values, common parameters) across requests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

__all__ = [
    "Transform",
    "UnknownTransformError",
    "apply_chain",
    "apply_chain_tuple",
    "get",
    "names",
    "register",
    "transform_for_scan",
]

Transform = Callable[[str], tuple[str, bool]]

_REGISTRY: dict[str, Transform] = {}
_CACHEABLE_LEN = 512


class UnknownTransformError(KeyError):
    """A rule named a transformation that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


def register(name: str, fn: Transform) -> Transform:
    """Register ``fn`` under ``name`` (a later registration under the same name replaces it)."""
    _REGISTRY[name] = fn
    return fn


def get(name: str) -> Transform:
    """The transformation called ``name``; the error lists every known name."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownTransformError(f"unknown transformation {name!r}; known: {known}") from None


def names() -> tuple[str, ...]:
    """Every registered transformation name, sorted."""
    return tuple(sorted(_REGISTRY))


def _run(chain: tuple[str, ...], value: str) -> str:
    for name in chain:
        value = _REGISTRY[name](value)[0]
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
    text = _run(chain, value)
    return text, text.encode("utf-8", "replace")


_with_bytes_cached = lru_cache(maxsize=8192)(_with_bytes)


def transform_for_scan(chain: tuple[str, ...], value: str) -> tuple[str, bytes]:
    """The transformed value and its UTF-8 bytes (what the engine scans); cached for short values."""
    if len(value) <= _CACHEABLE_LEN:
        return _with_bytes_cached(chain, value)
    return _with_bytes(chain, value)


def _load_families() -> None:
    from gateway.engines.native.transforms import b64, css, html, js, path, shell, sql, text, url  # noqa: F401


_load_families()
