"""Template sink: Jinja2 ``Environment.from_string`` (also behind ``jinja2.Template(source)``)
and ``Environment.compile``; the template *source* goes to the ``template`` detector."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from rampart.inprocess import guard
from rampart.inprocess.patching import Patcher, before, version_at_least

__all__ = ["patch"]

SINK = "templates"


def _judge(operation: str) -> Callable[..., None]:
    def judge(self: Any, source: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(source, str):
            guard.check(SINK, operation, "template", source)

    return judge


def _wrap(operation: str) -> Callable[[Any], Any]:
    return before(_judge(operation), where=f"{SINK}.{operation}")


def _patch_jinja(patcher: Patcher, module: ModuleType) -> None:
    if not version_at_least("jinja2", (3, 0)):
        return
    env = module.Environment
    patcher.wrap(env, "from_string", _wrap("jinja2.from_string"))
    patcher.wrap(env, "compile", _wrap("jinja2.compile"))


def patch(patcher: Patcher) -> None:
    patcher.when_imported("jinja2", lambda m: _patch_jinja(patcher, m))
