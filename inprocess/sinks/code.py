"""Code-evaluation sink via PEP 578 audit hooks: the application's own ``eval``, ``exec``,
``compile`` and ``ast.parse`` of source text.

The ``compile`` audit event carries the source and a pseudo file name (``<string>``) before
compiling; raising from the hook aborts the call. Module imports compile real files (their
file name is a path) and are skipped, as are compilations done inside another guarded sink.

Only the application's calls are judged. The interpreter and libraries compile source text
on their own, often text that echoes request data: since Python 3.11 formatting a traceback
(``logger.exception``) parses the failing source line to place its markers; ``dataclasses``,
``typing`` forward references, ``pydantic``, ``jinja2``, ``inspect`` and ``linecache``
compile text too. The hook walks up from the compile call (past ``ast.parse`` and other
frames of the ``ast`` module) to the first frame that asked for it; when that frame belongs
to the standard library or an installed distribution (``site-packages``), or is frozen
import machinery, the call is not the application's and is skipped.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from functools import lru_cache
from types import FrameType
from typing import Any

from rampart.inprocess import guard
from rampart.inprocess.patching import Patcher

__all__ = ["is_library_file", "patch"]

SINK = "code"
# modules whose frames stand between the application and the compile: skipped when walking
_TRAMPOLINES = frozenset(
    {"ast", "rampart.inprocess.patching", "rampart.inprocess.sinks.code", "rampart.inprocess.guard"}
)


def _library_roots() -> tuple[str, ...]:
    roots: set[str] = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(os.path.realpath(path))
    for path in sys.path:
        if path.endswith(("site-packages", "dist-packages")):
            roots.add(os.path.realpath(path))
    return tuple(sorted(roots, key=len, reverse=True))


_ROOTS = _library_roots()


@lru_cache(maxsize=2048)
def is_library_file(filename: str) -> bool:
    """True when ``filename`` is interpreter or library code (stdlib, site-packages, frozen)."""
    if filename.startswith("<"):
        return filename.startswith("<frozen")
    real = os.path.realpath(filename)
    return any(real == root or real.startswith(root + os.sep) for root in _ROOTS)


def _caller_is_library() -> bool:
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") in _TRAMPOLINES:
        frame = frame.f_back
    return frame is None or is_library_file(frame.f_code.co_filename)


def _compile(args: tuple[Any, ...]) -> None:
    source, filename = args[0], args[1]
    if not isinstance(filename, str) or not filename.startswith("<"):
        return
    if isinstance(source, bytes | bytearray):
        text = bytes(source).decode("utf-8", "replace")
    elif isinstance(source, str):
        text = source
    else:
        return  # an AST object: built by code, not parsed from text
    if guard.is_quiet() or _caller_is_library():
        return
    guard.check(SINK, "compile", "code", text)


def patch(patcher: Patcher) -> None:
    patcher.audit("compile", _compile, needs_request=True)
