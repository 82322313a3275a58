"""``before``/``after``: one builder for the sync and async wrapper of a patched callable;
an extraction error fails open (counted on the guard), a block passes through, nested sinks
run quiet."""

from __future__ import annotations

from typing import Any

import pytest

from rampart.inprocess import guard as guard_module
from rampart.inprocess.context import bind
from rampart.inprocess.detectors import Detection
from rampart.inprocess.errors import Blocked
from rampart.inprocess.patching import after, before

from .conftest import request_ctx


class Target:
    def run(self, value: str) -> tuple[str, bool]:
        return value, guard_module.is_quiet()

    async def arun(self, value: str) -> tuple[str, bool]:
        return value, guard_module.is_quiet()


def _explode(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("extraction broke")


def _block(self: Any, value: str) -> None:
    raise Blocked(Detection("sql", "sql_injection", 1.0, "r", value), sink="t", operation="run", incident="-")


async def test_extraction_errors_fail_open_sync_and_async(make_guard) -> None:
    guard = make_guard("block")
    run = before(_explode, where="t.run")(Target.run)
    arun = before(_explode, where="t.arun")(Target.arun)
    assert run(Target(), "x") == ("x", True)  # the original ran, quiet
    assert await arun(Target(), "y") == ("y", True)
    assert guard.errors == 2
    assert [e.split(":")[0] for e in guard.recent_errors] == ["t.run.extract/-", "t.arun.extract/-"]


async def test_a_block_passes_through(make_guard) -> None:
    make_guard("block")
    with pytest.raises(Blocked):
        before(_block)(Target.run)(Target(), "x")
    with pytest.raises(Blocked):
        await before(_block)(Target.arun)(Target(), "x")


def test_without_a_guard_nothing_is_judged() -> None:
    seen: list[str] = []
    run = before(lambda self, value: seen.append(value))(Target.run)
    assert run(Target(), "x") == ("x", False)
    assert seen == []


def test_quiet_false_lets_nested_sinks_judge(make_guard) -> None:
    make_guard("block")
    assert before(lambda self, value: None, quiet=False)(Target.run)(Target(), "x") == ("x", False)


async def test_judge_reaches_the_guard(make_guard) -> None:
    make_guard("block")

    def judge(self: Any, value: str) -> None:
        guard_module.check("sql", "run", "sql", f"SELECT * FROM t WHERE a = '{value}'", dialect="sqlite")

    run = before(judge)(Target.run)
    with bind(request_ctx(q="x' OR '1'='1")), pytest.raises(Blocked):
        run(Target(), "x' OR '1'='1")


async def test_after_observes_results_and_fails_open(make_guard) -> None:
    guard = make_guard("block")
    seen: list[Any] = []
    assert after(seen.append)(Target.run)(Target(), "x") == ("x", False)
    assert await after(seen.append)(Target.arun)(Target(), "y") == ("y", False)
    assert seen == [("x", False), ("y", False)]
    assert after(_explode)(Target.run)(Target(), "z") == ("z", False)
    assert guard.errors == 1
