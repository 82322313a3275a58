"""The one-worker reload (:mod:`rampart.gateway.reload`) step by step, in process: new engines are
built from freshly read settings and swapped in while an inspection of the old engine is still
running in the thread pool; the old engine is closed only after that inspection returns; keys
a reload cannot change are named; a failing build keeps the running engines."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rampart.gateway import engines
from rampart.gateway.app import build_gateway
from rampart.gateway.config import GatewaySettings, load_settings
from rampart.gateway.model import EngineSettings, RawRequest, RuleMatch, Verdict
from rampart.gateway.reload import Reloader, changed_keys

ENTERED = threading.Event()
RELEASE = threading.Event()


class ProbeEngine:
    """Flags requests whose target holds the word in ``<rules_dir>/word``; a target holding
    ``hold`` waits (in the pool: ``slow``) until the test releases it."""

    name = "probe"
    slow = True
    thread_safe = True

    def __init__(self, settings: EngineSettings) -> None:
        assert settings.rules_dir is not None
        path = Path(settings.rules_dir) / "word"
        if not path.is_file():
            raise ValueError(f"{path}:1: no word file. Fix: write one word into it")
        self.word = path.read_text(encoding="utf-8").strip()
        self.closed = False

    def inspect(self, request: RawRequest) -> Verdict:
        if "hold" in request.target:
            ENTERED.set()
            RELEASE.wait(30)
        if self.closed:
            raise RuntimeError("inspected after close")
        hit = self.word in request.target
        match = RuleMatch(
            rule_id="1", attack_class="xss", message=self.word, severity="critical", score=5,
            target="REQUEST_URI", matched=self.word,
        )  # fmt: skip
        return Verdict(engine=self.name, score=5 if hit else 0, threshold=5, matches=(match,) if hit else ())

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def probe() -> Iterator[None]:
    engines.register("probe", f"{__name__}:ProbeEngine")
    ENTERED.clear()
    RELEASE.clear()
    yield
    RELEASE.set()
    engines.engines.unregister("probe")


def _settings(rules: Path, mode: str = "detect") -> GatewaySettings:
    return load_settings(
        upstream="http://127.0.0.1:9", engines=("probe",), mode=mode, engine={"rules_dir": str(rules)}
    )


def _closed(engine: ProbeEngine) -> bool:
    return engine.closed


def _get(target: str) -> RawRequest:
    return RawRequest("GET", target, (("Host", "lab.test"),))


async def _until(predicate: object, timeout: float = 30.0) -> None:
    """Poll a condition another thread changes (nothing to await)."""
    for _ in range(int(timeout / 0.01)):
        if callable(predicate) and predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met")


async def test_swap_while_an_old_inspection_runs_then_close_the_old_engine(
    probe: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "word").write_text("alpha")
    gw = build_gateway(_settings(tmp_path))
    reloader = Reloader(gw, lambda: _settings(tmp_path, mode="block"))
    try:
        runner = gw.runner
        old = runner.engines[0].engine
        assert isinstance(old, ProbeEngine)
        assert (await runner.inspect(_get("/?q=alpha")))[0].flagged

        held = asyncio.ensure_future(runner.inspect(_get("/hold?q=alpha")))
        await _until(ENTERED.is_set)
        (tmp_path / "word").write_text("beta")
        caplog.set_level(logging.INFO, logger="rampart.gateway.reload")
        assert await reloader.reload() is True
        assert runner.engines[0].engine is not old

        # new requests see the new rules at once; the old engine is still inspecting
        assert (await runner.inspect(_get("/?q=beta")))[0].flagged
        assert not (await runner.inspect(_get("/?q=alpha")))[0].flagged
        assert not held.done()
        assert not _closed(old)

        RELEASE.set()
        verdict = (await held)[0]
        assert verdict.error is None
        assert verdict.flagged  # judged by the rules it started with
        await _until(lambda: _closed(old))
        assert reloader.reloads == 1
        # mode is not an engine setting: named, kept as it was
        assert "reload_needs_restart keys=mode" in caplog.text
        assert gw.settings.mode == "detect"
        assert "reloaded engines=probe" in caplog.text
    finally:
        RELEASE.set()
        gw.runner.close()


async def test_a_failing_build_keeps_the_running_engines(
    probe: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "word").write_text("alpha")
    gw = build_gateway(_settings(tmp_path))
    reloader = Reloader(gw, lambda: _settings(tmp_path))
    try:
        before = gw.runner.engines
        (tmp_path / "word").unlink()
        assert await reloader.reload() is False
        assert gw.runner.engines is before
        assert not before[0].engine.closed  # type: ignore[attr-defined]
        assert reloader.failures == 1
        assert f"reload_failed error=ValueError: {tmp_path / 'word'}:1: no word file. Fix:" in caplog.text
        assert (await gw.runner.inspect(_get("/?q=alpha")))[0].flagged

        def broken() -> GatewaySettings:
            raise ValueError("gateway.toml: not valid TOML")

        assert await Reloader(gw, broken).reload() is False
        assert gw.runner.engines is before
    finally:
        gw.runner.close()


def test_changed_keys_are_dotted() -> None:
    a = load_settings(upstream="http://127.0.0.1:9")
    b = load_settings(upstream="http://127.0.0.1:9", paranoia=2, mode="block", engine={"rules_dir": "/r"})
    assert changed_keys(a, b) == ("engine.rules_dir", "mode", "paranoia")


async def test_reloaded_engines_get_their_own_worker_processes(tmp_path: Path) -> None:
    """Large bodies go to worker processes before and after a reload: the new engines get new
    workers (built from the new settings), the old workers stop with the old engines."""

    def settings() -> GatewaySettings:
        return load_settings(
            upstream="http://127.0.0.1:9",
            engines=("testing",),
            mode="block",
            engine={"processes": 1, "process_body_bytes": 1024, "budget_ms": 0},
        )

    gw = build_gateway(settings())
    runner = gw.runner
    body = b"x" * 4096 + b"<script"
    large = RawRequest("POST", "/", (("Host", "lab.test"), ("Content-Length", str(len(body)))), body)
    try:
        assert runner.start_processes(wait=True)
        old = runner.engines[0]
        old_pool = old.processes
        assert old_pool is not None
        old_pids = old_pool.worker_pids()
        assert old_pids
        assert (await runner.inspect(large))[0].flagged
        assert _process_runs(gw) == 1
        assert await Reloader(gw, settings).reload() is True
        new = runner.engines[0]
        assert new is not old
        assert new.processes is not None
        assert new.processes is not old_pool
        assert runner.start_processes(wait=True)
        assert new.processes.worker_pids()
        assert not set(new.processes.worker_pids()) & set(old_pids)
        assert (await runner.inspect(large))[0].flagged
        assert _process_runs(gw) == 2
        await _until(lambda: old_pool.worker_pids() == [] or _closed_pool(old_pool))
    finally:
        runner.close()


def _process_runs(gw: object) -> float:
    registry = gw.metrics.registry  # type: ignore[attr-defined]
    labels = {"engine": "testing", "where": "process"}
    return registry.get_sample_value("rampart_gateway_engine_seconds_count", labels) or 0.0


def _closed_pool(pool: object) -> bool:
    return bool(getattr(pool, "_closed", False))
