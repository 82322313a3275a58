"""Installing the guard: settings -> guard -> propagation -> sinks, in that order.

* :func:`build_guard` resolves the settings (given, or environment and TOML) and builds the
  :class:`~rampart.inprocess.guard.Guard`; an explicit ``mode`` wins over the settings' mode.
* :func:`activate` makes the guard the active one, carries the request context into executor
  threads (:mod:`rampart.inprocess.propagation`) and patches the sinks; :func:`deactivate` undoes all
  three in reverse order.
* :func:`install` is the front door (``rampart.inprocess.install``): it recognises an aiohttp
  application, an ASGI app or a WSGI app (a Flask app is guarded in place through its
  ``wsgi_app``) and returns what to serve.

Precedence of the mode: ``install(app, mode="block")`` runs in block mode whatever the
settings or ``RAMPART_GUARD_MODE`` say (an override of a different configured mode is logged);
``install(app)`` (``mode=None``) takes the mode from ``settings``, else from the environment or
TOML file, else ``detect``.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

from rampart.inprocess import guard as guard_module
from rampart.inprocess import propagation, sinks
from rampart.inprocess.config import GuardSettings, Mode, load_settings
from rampart.inprocess.guard import Guard

__all__ = ["activate", "build_guard", "deactivate", "install"]

log = logging.getLogger("rampart.inprocess.install")


def build_guard(
    mode: Mode | None = None,
    *,
    settings: GuardSettings | None = None,
    harness: bool = False,
    incidents_path: str | Path | None = None,
) -> Guard:
    """A guard (not yet active) for ``settings`` (default: environment and TOML), with
    ``mode`` overriding the settings' mode when given."""
    chosen = settings if settings is not None else load_settings()
    if mode is not None and chosen.mode != mode:
        log.info("rampart guard: mode %r given explicitly overrides the settings' %r", mode, chosen.mode)
        chosen = chosen.model_copy(update={"mode": mode})
    return Guard(chosen, incidents_path=incidents_path, harness=harness)


def activate(guard: Guard, sinks_to_patch: tuple[str, ...] | None = None) -> Guard:
    """Make ``guard`` active, then propagate the request context, then patch the sinks
    (default: all). Idempotent for the active guard."""
    already = guard_module.active() is guard
    guard_module.activate(guard)
    if not already:
        propagation.install()
        sinks.install(sinks_to_patch)
    return guard


def deactivate(guard: Guard) -> None:
    """Remove every patch, deactivate ``guard`` and close its writers (audit hooks stay
    registered but dormant)."""
    if guard_module.active() is guard:
        sinks.uninstall()
        propagation.uninstall()
        guard_module.deactivate(guard)
    guard.close()


def _is_asgi(app: Any) -> bool:
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else getattr(app, "__call__", None)  # noqa: B004
    if call is None:
        return False
    if inspect.iscoroutinefunction(call):
        return True
    try:
        params = list(inspect.signature(call).parameters)
    except (TypeError, ValueError):
        return False
    return params[-3:] == ["scope", "receive", "send"]


def install(
    app: Any,
    *,
    mode: Mode | None = None,
    settings: GuardSettings | None = None,
    harness: bool = False,
    incidents_path: str | Path | None = None,
    sinks_to_patch: tuple[str, ...] | None = None,
) -> Any:
    """Guard ``app`` and return what to serve: the same aiohttp ``web.Application`` (its
    outermost middleware added), the same Flask app (``wsgi_app`` wrapped), or a wrapping
    ASGI / WSGI callable. The guard is :func:`rampart.inprocess.guard.active` until
    :func:`deactivate`. Mode ``off`` builds the guard and returns ``app`` untouched."""
    guard = build_guard(mode, settings=settings, harness=harness, incidents_path=incidents_path)
    try:
        from aiohttp import web
    except ImportError:  # pragma: no cover - aiohttp is a core dependency
        web = None  # type: ignore[assignment]
    if web is not None and isinstance(app, web.Application):
        from rampart.inprocess.frameworks.aiohttp import GUARD_KEY, middleware

        app[GUARD_KEY] = guard
        if guard.mode == "off":
            return app
        activate(guard, sinks_to_patch)
        app.middlewares.insert(0, middleware(guard))

        async def _cleanup(_app: web.Application) -> None:
            deactivate(guard)

        app.on_cleanup.append(_cleanup)
        return app
    if guard.mode == "off":
        return app
    wsgi_app = getattr(app, "wsgi_app", None)
    if wsgi_app is not None and callable(wsgi_app):
        from rampart.inprocess.frameworks.wsgi import RampartWSGI

        activate(guard, sinks_to_patch)
        app.wsgi_app = RampartWSGI(wsgi_app, guard=guard)
        return app
    if _is_asgi(app):
        from rampart.inprocess.frameworks.asgi import RampartASGI

        activate(guard, sinks_to_patch)
        return RampartASGI(app, guard=guard)
    if callable(app):
        from rampart.inprocess.frameworks.wsgi import RampartWSGI

        activate(guard, sinks_to_patch)
        return RampartWSGI(app, guard=guard)
    raise TypeError(
        f"rampart.inprocess.install: {type(app).__name__} is neither an aiohttp Application, "
        "an ASGI app (async __call__(scope, receive, send)) nor a WSGI callable"
    )
