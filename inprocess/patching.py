"""Reversible, lazy monkey-patching, the wrapper builders and the audit-hook dispatcher
shared by every sink.

* :func:`before` and :func:`after` build the wrapper of a patched callable, sync or async
  after the original: ``before(judge)`` runs ``judge(*args, **kwargs)`` and then the
  original (quiet: nested sinks skip); ``after(observe)`` runs the original and then
  ``observe(result)``. Whatever ``judge``/``observe`` raise other than
  :class:`~rampart.inprocess.errors.Blocked` goes to the guard's fail-open counter and the original
  call goes ahead: a sink's extraction cannot break the application by construction.

* :class:`Patcher` replaces attributes and remembers how to restore them (``undo``); a
  wrapper carries ``__rampart_original__`` so patching twice is a no-op.
* :func:`Patcher.when_imported` runs a patch function now if the module is imported, else
  when it is first imported (a ``sys.meta_path`` finder wraps the loader's ``exec_module``).
* :func:`on_audit` routes PEP 578 audit events to sink handlers. ``sys.addaudithook`` cannot
  be undone, so the one hook is registered once and dispatches through a dict: a sink that is
  uninstalled removes its handlers and the hook goes dormant (one dict lookup per event).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import importlib.machinery
import importlib.metadata
import inspect
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from rampart.inprocess.context import current
from rampart.inprocess.errors import Blocked
from rampart.inprocess.guard import active, fail_open, hush, unhush

__all__ = ["Patcher", "after", "before", "on_audit", "original_of", "version_at_least"]

log = logging.getLogger("rampart.inprocess.sinks")
AuditHandler = Callable[[tuple[Any, ...]], None]
# event -> (handler, whether it only matters inside a request: input-driven detectors)
_AUDIT: dict[str, tuple[AuditHandler, bool]] = {}
_hook_installed = False
_hook_lock = threading.Lock()


def _dispatch(
    event: str,
    args: tuple[Any, ...],
    _route: Callable[[str], tuple[AuditHandler, bool] | None] = _AUDIT.get,
    _request: Callable[[], Any] = current,
) -> None:
    """The process-wide audit hook. It sees every audited event of every thread (the server's
    own sockets and file opens included), so the common cases return after one dict lookup
    (no route) or one ContextVar read (an input-driven route outside any request)."""
    route = _route(event)
    if route is None:
        return
    handler, needs_request = route
    if needs_request and _request() is None:
        return
    try:
        handler(args)
    except Blocked:
        raise
    except Exception as exc:
        fail_open(f"audit:{event}", exc)


def on_audit(event: str, handler: AuditHandler, *, needs_request: bool = False) -> Callable[[], None]:
    """Route audit ``event`` to ``handler``; returns the function that removes the route.

    ``needs_request``: the handler's detector judges user input, so events raised outside a
    request context (startup, the server's own I/O, background threads) are skipped."""
    global _hook_installed
    route = (handler, needs_request)
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_dispatch)
            _hook_installed = True
        _AUDIT[event] = route

    def remove() -> None:
        if _AUDIT.get(event) is route:
            del _AUDIT[event]

    return remove


def _judged(judge: Callable[..., None], where: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        judge(*args, **kwargs)
    except Blocked:
        raise
    except Exception as exc:
        fail_open(where, exc)


def before(judge: Callable[..., None], *, where: str = "", quiet: bool = True) -> Callable[[Any], Any]:
    """``make(original)`` for :meth:`Patcher.wrap`: call ``judge`` with the call's arguments
    (it calls the guard's ``check``), then the original, inside ``quiet`` unless told
    otherwise (a call that only builds an object makes no nested sink calls). Skipped
    entirely while no guard is active. An error in ``judge`` fails open."""

    def make(original: Any) -> Any:
        label = where or getattr(original, "__qualname__", repr(original))
        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                if active() is None:
                    return await original(*args, **kwargs)
                _judged(judge, label, args, kwargs)
                if not quiet:
                    return await original(*args, **kwargs)
                token = hush()
                try:
                    return await original(*args, **kwargs)
                finally:
                    unhush(token)

            return async_wrapper

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if active() is None:
                return original(*args, **kwargs)
            _judged(judge, label, args, kwargs)
            if not quiet:
                return original(*args, **kwargs)
            token = hush()
            try:
                return original(*args, **kwargs)
            finally:
                unhush(token)

        return wrapper

    return make


def after(observe: Callable[[Any], None], *, where: str = "") -> Callable[[Any], Any]:
    """``make(original)`` for :meth:`Patcher.wrap`: call the original, then ``observe`` its
    result (taint bookkeeping); an error in ``observe`` fails open."""

    def make(original: Any) -> Any:
        label = where or getattr(original, "__qualname__", repr(original))

        def seen(result: Any) -> Any:
            if active() is not None:
                try:
                    observe(result)
                except Blocked:
                    raise
                except Exception as exc:
                    fail_open(label, exc)
            return result

        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return seen(await original(*args, **kwargs))

            return async_wrapper

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return seen(original(*args, **kwargs))

        return wrapper

    return make


def original_of(fn: Any) -> Any:
    return getattr(fn, "__rampart_original__", fn)


def version_at_least(distribution: str, minimum: tuple[int, ...]) -> bool:
    """True when ``distribution`` is installed at ``minimum`` or newer (unknown: False)."""
    try:
        raw = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    parts: list[int] = []
    for piece in raw.split(".")[: len(minimum)]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts) >= minimum


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Calls hooks right after a watched module finishes executing."""

    def __init__(self) -> None:
        self.hooks: dict[str, list[Callable[[ModuleType], None]]] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.hooks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original_exec = loader.exec_module
        hooks = self.hooks

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            for hook in hooks.pop(fullname, []):
                hook(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


class Patcher:
    """Applies and undoes the patches of one guard installation."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._finder: _PostImportFinder | None = None

    def wrap(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        """Replace ``owner.name`` by ``make(original)`` (skipped when already wrapped)."""
        had_own = name in vars(owner)
        current = vars(owner)[name] if had_own else getattr(owner, name)
        if getattr(current, "__rampart_original__", None) is not None:
            return
        wrapper = make(current)
        with contextlib.suppress(AttributeError, TypeError):
            wrapper.__rampart_original__ = current
        setattr(owner, name, wrapper)

        def undo() -> None:
            if had_own:
                setattr(owner, name, current)
            else:
                delattr(owner, name)

        self._undo.append(undo)

    def audit(self, event: str, handler: AuditHandler, *, needs_request: bool = False) -> None:
        """Route audit ``event`` to ``handler`` until :meth:`undo` (see :func:`on_audit`)."""
        self._undo.append(on_audit(event, handler, needs_request=needs_request))

    def when_imported(self, module: str, apply: Callable[[ModuleType], None]) -> None:
        """Run ``apply(module)`` now if imported, else right after its first import."""

        def safe(mod: ModuleType) -> None:
            try:
                apply(mod)
            except Exception:
                log.exception("rampart: could not patch %s; that sink stays unguarded", module)

        loaded = sys.modules.get(module)
        if loaded is not None:
            safe(loaded)
            return
        if self._finder is None:
            self._finder = _PostImportFinder()
            sys.meta_path.insert(0, self._finder)
            finder = self._finder

            def remove_finder() -> None:
                if finder in sys.meta_path:
                    sys.meta_path.remove(finder)

            self._undo.append(remove_finder)
        self._finder.hooks.setdefault(module, []).append(safe)

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()
