"""Patched sinks, one module per library family. Each exposes ``patch(patcher)`` listing its
targets; sinks extract ``(operation, argument)`` and call :func:`rampart.inprocess.guard.check`."""

from __future__ import annotations

import importlib
from typing import Protocol

from rampart.inprocess.patching import Patcher

__all__ = ["SINKS", "install", "installed", "uninstall"]

SINKS: tuple[str, ...] = (
    "mongo",
    "shell",
    "http",
    "files",
    "sql",
    "templates",
    "code",
    "deserialization",
    "llm",
)


class _SinkModule(Protocol):
    def patch(self, patcher: Patcher) -> None: ...


_patcher: Patcher | None = None
_installed: tuple[str, ...] = ()


def install(names: tuple[str, ...] | None = None) -> None:
    """Patch every sink in ``names`` (default: all); idempotent until :func:`uninstall`."""
    global _patcher, _installed
    if _patcher is not None:
        return
    chosen = SINKS if names is None else names
    unknown = sorted(set(chosen) - set(SINKS))
    if unknown:
        raise ValueError(f"unknown sink(s) {', '.join(unknown)}; known: {', '.join(SINKS)}")
    patcher = Patcher()
    for name in chosen:
        module: _SinkModule = importlib.import_module(f"rampart.inprocess.sinks.{name}")
        module.patch(patcher)
    _patcher, _installed = patcher, tuple(chosen)


def uninstall() -> None:
    global _patcher, _installed
    if _patcher is not None:
        _patcher.undo()
    _patcher, _installed = None, ()


def installed() -> tuple[str, ...]:
    return _installed
