"""SIGHUP: re-read the settings and the rule files, swap the engines in, in place.

A single-process gateway runs this on SIGHUP; with ``--workers N`` each worker runs it when
its supervisor asks (``POST /reload`` on the worker's private socket).

The new engines are built in a thread (loading CRS takes seconds; the event loop keeps serving
meanwhile) from freshly read settings. They replace the old ones in one assignment on the
event loop (``EngineRunner.engines``), so every request inspected after it, WebSocket messages
included, sees only the new rules and every request before it only the old ones. The old
engines are closed once no inspection of theirs is still running in the thread pool (an
inline inspection cannot be: it runs on the loop, which is here). Nothing is restarted and no
connection is touched.

What a reload can change: the rule settings (``paranoia``, ``engine.rules_dir``,
``engine.shipped_rules``, ``engine.exclusions_file``, ``engine.exclusions``, ``engine.crs_dir``,
``engine.crs_setup``, ``engine.budget_ms``, ``engine.over_budget``) and the files they name. Any
other changed key is listed in the ``reload_needs_restart`` log line and left as it was (with
``--workers N`` such a change makes the supervisor replace the workers instead). A rule or settings file that
fails to load keeps the running engines and logs ``reload_failed`` with the error, which
names the file, the line and the fix.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from rampart.gateway.audit import log_event
from rampart.gateway.config import GatewaySettings
from rampart.gateway.engines import create_engine
from rampart.gateway.proxy import Gateway
from rampart.gateway.proxy.inspection import NamedEngine
from rampart.serve import settle_heap

__all__ = [
    "RELOADABLE_ENGINE_KEYS",
    "Reloader",
    "build_engines",
    "changed_keys",
    "close_engines",
    "reloadable",
]

logger = logging.getLogger("rampart.gateway.reload")

RELOADABLE_ENGINE_KEYS: frozenset[str] = frozenset(
    {
        "rules_dir",
        "shipped_rules",
        "exclusions_file",
        "exclusions",
        "crs_dir",
        "crs_setup",
        "budget_ms",
        "over_budget",
    }
)
RETIRE_WAIT_S = 300.0  # old engines are closed at the latest this long after the swap
_POLL_S = 0.05


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def changed_keys(old: GatewaySettings, new: GatewaySettings) -> tuple[str, ...]:
    """Dotted names of the settings that differ (``engine.rules_dir``, ``mode``...)."""
    a, b = _flatten(old.model_dump(mode="json")), _flatten(new.model_dump(mode="json"))
    return tuple(sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k)))


def reloadable(key: str) -> bool:
    """Whether a reload in place applies this changed setting (a dotted name)."""
    section, _, name = key.partition(".")
    return key == "paranoia" or (section == "engine" and name in RELOADABLE_ENGINE_KEYS)


def _merged(current: GatewaySettings, fresh: GatewaySettings) -> GatewaySettings:
    """``current`` with the reloadable keys taken from ``fresh``."""
    engine = current.engine.model_copy(update={k: getattr(fresh.engine, k) for k in RELOADABLE_ENGINE_KEYS})
    return current.model_copy(update={"paranoia": fresh.paranoia, "engine": engine})


def _rule_count(engine: object) -> int | None:
    for attr in ("active_rule_count", "rule_count"):
        value = getattr(engine, attr, None)
        if isinstance(value, int):
            return value
    return None


def close_engines(engines: Sequence[NamedEngine]) -> None:
    """Close each engine; a failure is logged, never raised."""
    for named in engines:
        if named.processes is not None:  # its worker processes, built from the old settings
            named.processes.close()
        try:
            named.engine.close()
        except Exception as exc:
            log_event(logger, logging.WARNING, "engine_close_failed", engine=named.name, error=exc)


def build_engines(settings: GatewaySettings, names: Sequence[str]) -> tuple[NamedEngine, ...]:
    """Construct the named engines for ``settings``, each with the factory its worker processes
    build it from (blocking: at start, or in a thread on reload); raises the first engine's load
    error, with the ones already built closed."""
    engine_settings = settings.engine_settings()
    built: list[NamedEngine] = []
    try:
        for name in names:
            built.append(
                NamedEngine(
                    name,
                    create_engine(name, engine_settings),
                    factory=functools.partial(create_engine, name, engine_settings),  # worker processes
                )
            )
    except BaseException:
        close_engines(built)
        raise
    return tuple(built)


class Reloader:
    """Reloads one gateway's engines; ``await reloader.reload()`` is one SIGHUP."""

    def __init__(
        self, gateway: Gateway, reload_settings: Callable[[], GatewaySettings] | None = None
    ) -> None:
        self.gw = gateway
        self.reload_settings = reload_settings
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.reloads = 0  # successful reloads
        self.failures = 0
        self.last_error: str | None = None

    def on_sighup(self) -> None:
        """The signal handler: reopen the log files at once, reload in a task."""
        self.gw.reopen_logs()
        task = asyncio.ensure_future(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self) -> bool:
        """Rebuild the engines from freshly read settings and swap them in; False (and the old
        engines kept) when the settings or a rule file do not load. Reloads run one at a time."""
        async with self._lock:
            try:
                fresh = self.reload_settings() if self.reload_settings is not None else self.gw.settings
            except Exception as exc:  # ConfigError: a broken gateway.toml
                return self._failed(exc)
            return await self._reload(fresh)

    async def reload_to(self, fresh: GatewaySettings) -> bool:
        """The same with settings already read (a worker told by its supervisor)."""
        async with self._lock:
            return await self._reload(fresh)

    async def _reload(self, fresh: GatewaySettings) -> bool:
        current = self.gw.settings
        started = time.perf_counter()
        ignored = [k for k in changed_keys(current, fresh) if not reloadable(k)]
        if ignored:
            log_event(logger, logging.WARNING, "reload_needs_restart", keys=",".join(ignored))
        settings = _merged(current, fresh)
        names = tuple(named.name for named in self.gw.runner.engines)
        try:
            new = await asyncio.to_thread(build_engines, settings, names)
        except Exception as exc:  # RuleLoadError, ExclusionError, CrsLayoutError, SecLangLoadError...
            return self._failed(exc)
        runner = self.gw.runner
        old = runner.replace_engines(new)
        self.gw.settings = settings
        self.reloads += 1
        log_event(
            logger,
            logging.INFO,
            "reloaded",
            engines=",".join(names),
            rules=",".join(str(_rule_count(n.engine)) for n in new),
            seconds=f"{time.perf_counter() - started:.2f}",
        )
        retire = asyncio.ensure_future(self._retire(old))  # not awaited: the swap is done
        self._tasks.add(retire)
        retire.add_done_callback(self._tasks.discard)
        return True

    def _failed(self, exc: Exception) -> bool:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        log_event(
            logger,
            logging.ERROR,
            "reload_failed",
            error=f"{type(exc).__name__}: {exc}",
            then="the running rules stay in force",
        )
        return False

    async def _retire(self, old: Sequence[NamedEngine]) -> None:
        """Close ``old`` once none of its pooled inspections is still running."""
        for _ in range(int(RETIRE_WAIT_S / _POLL_S)):  # in_pool drops in pool threads: polled
            if not any(named.in_pool > 0 for named in old):
                break
            await asyncio.sleep(_POLL_S)
        await asyncio.to_thread(close_engines, old)
        settle_heap(again=True)  # the new engines join the frozen heap; the old ones can go
