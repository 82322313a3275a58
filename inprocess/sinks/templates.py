"""Template sink: Jinja2 ``Environment.from_string`` (also behind ``jinja2.Template(source)``)
and ``Environment.compile``; the template *source* goes to the ``template`` detector."""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

from inprocess import runtime
from inprocess.sinks._patching import Patcher, version_at_least

__all__ = ["patch"]

SINK = "templates"


def _source_text(source: Any) -> str | None:
    return source if isinstance(source, str) else None


def _wrap(operation: str) -> Callable[[Any], Any]:
    def make(original: Any) -> Any:
        @functools.wraps(original)
        def wrapper(self: Any, source: Any, *args: Any, **kwargs: Any) -> Any:
            text = _source_text(source)
            if text is not None:
                runtime.check(SINK, operation, "template", text)
            with runtime.quiet():
                return original(self, source, *args, **kwargs)

        return wrapper

    return make


def _patch_jinja(patcher: Patcher, module: ModuleType) -> None:
    if not version_at_least("jinja2", (3, 0)):
        return
    env = module.Environment
    patcher.wrap(env, "from_string", _wrap("jinja2.from_string"))
    patcher.wrap(env, "compile", _wrap("jinja2.compile"))


def patch(patcher: Patcher) -> None:
    patcher.when_imported("jinja2", lambda m: _patch_jinja(patcher, m))
