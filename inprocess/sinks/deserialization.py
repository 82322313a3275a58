"""Deserialization sinks: ``pickle.loads``/``pickle.load`` and PyYAML's unsafe paths
(``yaml.load``/``load_all`` with a loader other than ``SafeLoader``/``BaseLoader``,
``unsafe_load``, ``full_load`` and their ``_all`` forms).

The data goes to the ``deserialization`` detector, which also runs outside a request
(sink-only). A file argument is read and rewound when it is seekable; an unseekable stream
cannot be inspected without consuming it and is passed through unchecked.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from rampart.inprocess import guard
from rampart.inprocess.patching import Patcher, before, version_at_least

__all__ = ["patch"]

SINK = "deserialization"
_SAFE_YAML_LOADERS = ("SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader")


def _peek(stream: Any) -> bytes | str | None:
    if isinstance(stream, bytes | str):
        return stream
    if isinstance(stream, bytearray | memoryview):
        return bytes(stream)
    seekable = getattr(stream, "seekable", None)
    if seekable is None or not seekable():
        return None
    pos = stream.tell()
    try:
        data = stream.read()
    finally:
        stream.seek(pos)
    return data if isinstance(data, bytes | str) else None


def _wrap(operation: str, kind: str, *, loader_arg: bool = False) -> Callable[[Any], Any]:
    def judge(data: Any, *args: Any, **kwargs: Any) -> None:
        if loader_arg:
            loader = args[0] if args else kwargs.get("Loader")
            if loader is None or getattr(loader, "__name__", "") in _SAFE_YAML_LOADERS:
                return
        peeked = _peek(data)
        if peeked is not None:
            guard.check(SINK, operation, "deserialization", peeked, kind=kind)

    return before(judge, where=f"{SINK}.{operation}")


def _patch_pickle(patcher: Patcher, module: ModuleType) -> None:
    patcher.wrap(module, "loads", _wrap("pickle.loads", "pickle"))
    patcher.wrap(module, "load", _wrap("pickle.load", "pickle"))


def _patch_yaml(patcher: Patcher, module: ModuleType) -> None:
    if not version_at_least("PyYAML", (5, 1)):
        return
    patcher.wrap(module, "load", _wrap("yaml.load", "yaml", loader_arg=True))
    patcher.wrap(module, "load_all", _wrap("yaml.load_all", "yaml", loader_arg=True))
    for name in ("unsafe_load", "full_load", "unsafe_load_all", "full_load_all"):
        patcher.wrap(module, name, _wrap(f"yaml.{name}", "yaml"))


def patch(patcher: Patcher) -> None:
    patcher.when_imported("pickle", lambda m: _patch_pickle(patcher, m))
    patcher.when_imported("yaml", lambda m: _patch_yaml(patcher, m))
