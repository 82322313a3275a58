"""Inspection engines by name, imported lazily.

``create_engine("native", settings)`` imports :mod:`rampart.gateway.engines.native.combined` only when
asked, so ``rampart --help`` and a gateway running the native engine never load libmodsecurity.

The native wing registers three engines so that each can be compared with the others:
``native`` (OWASP CRS on the SecLang executor plus rampart's YAML rules: the ``waf``
configuration), ``rules`` (the YAML rules alone) and ``seclang`` (CRS alone on the SecLang
executor); ``crs`` is CRS on libmodsecurity, the reference.
An engine class is constructed as ``Engine(settings: EngineSettings)`` and satisfies
:class:`rampart.gateway.model.InspectionEngine`.
"""

from __future__ import annotations

import importlib
from typing import cast

from rampart.gateway.model import EngineSettings, InspectionEngine
from rampart.registry import Registry, UnknownNameError

__all__ = ["UnknownEngineError", "create_engine", "engines", "names", "register"]


class UnknownEngineError(UnknownNameError, ValueError):
    """No engine is registered under that name (or its module is not built)."""


# name -> "module:Class", imported on first use
engines: Registry[str] = Registry("engine", unknown=UnknownEngineError)


def register(name: str, target: str, *, replace: bool = False) -> None:
    """Register ``"module:Class"`` under ``name`` (a second registration needs ``replace=True``)."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"engine target must look like 'package.module:Class', got {target!r}")
    engines.register(name, target, replace=replace)


register("native", "rampart.gateway.engines.native.combined:CombinedEngine")
register("rules", "rampart.gateway.engines.native.combined:RulesEngine")
register("crs", "rampart.gateway.engines.crs.engine:CrsEngine")
register("seclang", "rampart.gateway.engines.native.seclang.engine:SecLangEngine")
register("testing", "rampart.gateway.engines.testing:LiteralEngine")


def names() -> tuple[str, ...]:
    """Registered engine names, sorted."""
    return engines.names()


def create_engine(name: str, settings: EngineSettings) -> InspectionEngine:
    """Import and construct the engine registered as ``name``."""
    target = engines.get(name)
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise UnknownEngineError(
                f"engine {name!r} is registered but {module_name} is not built"
            ) from None
        raise
    factory = getattr(module, attr)
    return cast(InspectionEngine, factory(settings))
