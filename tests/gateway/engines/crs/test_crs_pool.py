"""CRS in worker processes: same verdicts, GIL left to the caller, recovery from a dead worker."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from rampart.gateway.engines.crs.config import CrsLayoutError
from rampart.gateway.model import EngineSettings
from tests.gateway.engines.crs.builders import get, post_json

pytestmark = pytest.mark.system

REQUESTS = [
    get("/api/products?category=shoes"),
    get("/greet?name=%3Cscript%3Ealert(1)%3C/script%3E"),
    post_json("/api/login", {"username": "admin' OR '1'='1", "password": "x"}),
    post_json("/api/comments", {"text": "Comfortable shoes; I'd buy them again."}),
]


def test_pooled_engine_gives_the_in_process_verdicts(crs_dir: Path) -> None:
    from rampart.gateway.engines.crs.engine import CrsEngine

    settings = EngineSettings(mode="block", crs_dir=str(crs_dir))
    local = CrsEngine(settings, processes=0)
    pooled = CrsEngine(settings, processes=1)
    try:
        assert (local.slow, local.thread_safe) == (False, False)
        assert (pooled.slow, pooled.thread_safe) == (True, True)
        for request in REQUESTS:
            a, b = local.inspect(request), pooled.inspect(request)
            assert (a.flagged, a.score, a.matches) == (b.flagged, b.score, b.matches)
            assert b.error is None
            assert b.elapsed_us > 0
    finally:
        local.close()
        pooled.close()


def test_a_dead_worker_fails_open_once_then_the_pool_is_rebuilt(crs_dir: Path) -> None:
    from rampart.gateway.engines.crs.engine import CrsEngine

    engine = CrsEngine(EngineSettings(mode="block", crs_dir=str(crs_dir)), processes=1)
    try:
        assert engine._pool is not None
        (pid,) = engine._pool.worker_pids()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        attack = get("/greet?name=%3Cscript%3Ealert(1)%3C/script%3E")
        broken = engine.inspect(attack)
        assert not broken.flagged
        assert broken.error is not None
        assert "BrokenProcessPool" in broken.error
        again = engine.inspect(attack)
        assert again.error is None
        assert again.flagged
        assert engine._pool.worker_pids() != [pid]
    finally:
        engine.close()


def test_processes_from_the_environment(crs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rampart.gateway.engines.crs.engine import PROCESSES_ENV, CrsEngine

    monkeypatch.setenv(PROCESSES_ENV, "lots")
    with pytest.raises(CrsLayoutError, match="RAMPART_CRS_PROCESSES='lots' is not a number"):
        CrsEngine(EngineSettings(crs_dir=str(crs_dir)))
    monkeypatch.setenv(PROCESSES_ENV, "0")
    engine = CrsEngine(EngineSettings(crs_dir=str(crs_dir)))
    assert engine.processes == 0
    engine.close()
