"""The generic engine process pool on its own: real worker processes, no gateway.

Engines here sleep (no CPU) or spin (all CPU) on a marker, so whether a worker is killed
depends on what it does, never on how fast the machine is.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator

import pytest

from rampart.gateway.engines.pool import (
    EngineProcessPool,
    PoolUnavailable,
    WorkerCrashed,
    WorkerOverran,
    _cpu_seconds,
)
from rampart.gateway.engines.testing import LiteralEngine
from rampart.gateway.model import EngineSettings, RawRequest, Verdict


class SleepyEngine(LiteralEngine):
    """Sleeps ``seconds`` (waiting, no CPU) on ``rmp-test-sleep`` in the body."""

    def __init__(self, settings: EngineSettings, seconds: float) -> None:
        super().__init__(settings, spin_on="rmp-test-spin", exit_on="rmp-test-exit")
        self.seconds = seconds

    def inspect(self, request: RawRequest) -> Verdict:
        if b"rmp-test-sleep" in request.body:
            time.sleep(self.seconds)
        return super().inspect(request)


def _broken(settings: EngineSettings) -> LiteralEngine:
    raise ValueError("rules do not load")


def _post(body: bytes) -> RawRequest:
    return RawRequest(method="POST", target="/x", headers=(("Host", "lab"),), body=body)


@pytest.fixture
def pool() -> Iterator[EngineProcessPool]:
    factory = functools.partial(SleepyEngine, EngineSettings(mode="block"), 1.0)
    replaced: list[str] = []
    pool = EngineProcessPool(factory, 1, on_replaced=replaced.append)
    pool.start(wait=True)
    assert pool.failed is None
    yield pool
    pool.close()


def test_a_worker_inspects_with_its_own_engine(pool: EngineProcessPool) -> None:
    (pid,) = pool.worker_pids()
    assert pid != os.getpid()
    verdict = pool.inspect(_post(b"<script>"), 30.0)
    assert verdict.flagged
    assert verdict.rule_ids == ("T100",)
    assert not pool.inspect(_post(b"hello"), 30.0).flagged
    assert pool.worker_pids() == [pid]


def test_a_worker_that_waits_past_the_timeout_is_not_killed_when_it_uses_no_cpu(
    pool: EngineProcessPool,
) -> None:
    """Starved or waiting is not runaway: with a CPU limit the worker may finish."""
    (pid,) = pool.worker_pids()
    verdict = pool.inspect(_post(b"rmp-test-sleep <script>"), 0.05, cpu_limit=0.5, hard_timeout=60.0)
    assert verdict.flagged
    assert pool.worker_pids() == [pid]
    assert pool.replaced == 0


def test_without_a_cpu_limit_the_timeout_kills_and_replaces(pool: EngineProcessPool) -> None:
    (pid,) = pool.worker_pids()
    with pytest.raises(WorkerOverran):
        pool.inspect(_post(b"rmp-test-sleep"), 0.05)
    assert pool.replaced == 1
    assert pool.wait_ready(120.0)
    assert pool.worker_pids() != [pid]
    assert pool.inspect(_post(b"<script>"), 30.0).flagged


def test_a_spinning_worker_is_killed_once_it_has_used_its_cpu(pool: EngineProcessPool) -> None:
    (pid,) = pool.worker_pids()
    with pytest.raises(WorkerOverran):
        pool.inspect(_post(b"rmp-test-spin"), 0.05, cpu_limit=0.2, hard_timeout=60.0)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped


def test_a_dead_worker_is_reported_and_replaced(pool: EngineProcessPool) -> None:
    (pid,) = pool.worker_pids()
    with pytest.raises(WorkerCrashed, match="exit code 70"):
        pool.inspect(_post(b"rmp-test-exit"), 30.0)
    with pytest.raises(PoolUnavailable):  # the replacement is still starting
        pool.inspect(_post(b"hello"), 30.0)
    assert pool.inspect(_post(b"<script>"), 30.0, wait=True).flagged
    assert pool.worker_pids() != [pid]


def test_an_engine_that_fails_to_build_makes_the_pool_unavailable_with_the_reason() -> None:
    pool = EngineProcessPool(functools.partial(_broken, EngineSettings()), 1)
    try:
        pool.start(wait=True)
        assert pool.failed == "ValueError: rules do not load"
        with pytest.raises(PoolUnavailable, match="rules do not load"):
            pool.inspect(_post(b"hello"), 5.0)
    finally:
        pool.close()


def test_cpu_seconds_reads_a_process_cpu_clock() -> None:
    before = _cpu_seconds(os.getpid())
    assert before is not None
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    after = _cpu_seconds(os.getpid())
    assert after is not None
    assert after >= before
    assert _cpu_seconds(-1) is None
