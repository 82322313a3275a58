"""Code-evaluation sink via PEP 578 audit hooks.

``eval``/``exec``/``compile`` of source text raise the ``compile`` audit event with the
source and a pseudo file name (``<string>``) before compiling; raising from the hook aborts
the call. Module imports compile real files (their file name is a path) and are skipped, as
are compilations done inside another guarded sink (a Jinja2 template compiles Python).
``exec`` of a ready code object carries no source and is left to the ``compile`` that made it.
"""

from __future__ import annotations

from typing import Any

from inprocess import runtime
from inprocess.sinks._patching import Patcher

__all__ = ["patch"]

SINK = "code"


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
    runtime.check(SINK, "compile", "code", text)


def patch(patcher: Patcher) -> None:
    patcher.audit("compile", _compile, needs_request=True)
