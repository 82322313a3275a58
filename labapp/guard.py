"""The one seam between the lab and the sink guard (``inprocess``).

``--guard detect|block`` calls ``rampart.inprocess.install(app, mode=...)`` before the app starts:
that adds the outermost middleware and patches the sinks. The lab never decides
anything about verdicts itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from rampart.labapp.settings import GuardMode

__all__ = ["GuardUnavailable", "install", "is_guard_exception", "require"]


class GuardUnavailable(RuntimeError):
    """``--guard`` was asked for but the sink guard cannot be imported."""


def _setup() -> Callable[..., Any]:
    try:
        import rampart.inprocess.frameworks.aiohttp  # noqa: F401 - the lab needs the aiohttp middleware
        from rampart.inprocess import install
    except ImportError as exc:
        raise GuardUnavailable(f"sink guard not available: {exc}") from exc
    return install


def require(mode: GuardMode) -> None:
    """Fail fast, before anything starts, when ``mode`` needs a guard that cannot load."""
    if mode != "off":
        _setup()


def install(app: web.Application, mode: GuardMode, *, harness: bool, incidents_path: Path | None) -> bool:
    """Put the sink guard in front of ``app``; ``False`` (nothing done) when ``mode`` is off."""
    if mode == "off":
        return False
    _setup()(app, mode=mode, harness=harness, incidents_path=incidents_path)
    return True


def is_guard_exception(exc: BaseException) -> bool:
    """True for exceptions the guard raises on purpose (a block): they must reach its
    middleware untouched, so the lab's own error handling lets them through."""
    return type(exc).__module__.split(".", 1)[0] == "inprocess"
