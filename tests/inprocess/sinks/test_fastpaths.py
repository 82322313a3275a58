"""Dormant paths stay cheap without changing verdicts: input-driven audit routes skip events
raised outside a request, a guard busy judging skips nested checks, and taint is recorded
only when a guard is active."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rampart.inprocess import guard as runtime
from rampart.inprocess.context import bind
from rampart.inprocess.errors import Blocked
from rampart.inprocess.patching import Patcher
from rampart.inprocess.sinks._taint import MAX_DEPTH, MAX_READS, MAX_VALUES, record_db_values, tainted
from tests.inprocess.conftest import GuardFactory, request_ctx

EVENT = "rampart.test.fastpath"


@pytest.mark.parametrize(
    ("needs_request", "in_request", "runs"),
    [
        (True, False, False),
        (True, True, True),
        (False, False, True),
        (False, True, True),
    ],
)
def test_audit_route_outside_a_request(needs_request: bool, in_request: bool, runs: bool) -> None:
    import sys

    seen: list[tuple[Any, ...]] = []
    patcher = Patcher()
    patcher.audit(EVENT, seen.append, needs_request=needs_request)
    try:
        if in_request:
            with bind(request_ctx(x="1")):
                sys.audit(EVENT, "a")
        else:
            sys.audit(EVENT, "a")
    finally:
        patcher.undo()
    sys.audit(EVENT, "after undo")
    assert seen == ([("a",)] if runs else [])


def test_file_open_outside_a_request_is_not_judged(make_guard: GuardFactory, tmp_path: Path) -> None:
    guard = make_guard(sinks=("files",))
    target = tmp_path / "plain.txt"
    target.write_text("x")
    before = guard.checks
    with open(target, encoding="utf-8") as fh:
        assert fh.read() == "x"
    assert guard.checks == before
    with bind(request_ctx(name="../../etc/passwd")), pytest.raises(Blocked):
        open(str(tmp_path / "a" / "b" / "../../etc/passwd"), encoding="utf-8")  # noqa: SIM115


def test_nested_check_while_judging_is_skipped(make_guard: GuardFactory) -> None:
    guard = make_guard(sinks=())
    with bind(request_ctx(q="1 OR 1=1")):
        runtime._busy.on = True
        try:
            assert runtime.is_quiet()
            assert guard.check("sql", "execute", "sql", "SELECT * FROM t WHERE id = 1 OR 1=1") is None
        finally:
            runtime._busy.on = False
        assert not runtime.is_quiet()
        with pytest.raises(Blocked):
            guard.check("sql", "execute", "sql", "SELECT * FROM t WHERE id = 1 OR 1=1")


def test_taint_needs_an_active_guard(make_guard: GuardFactory) -> None:
    ctx = request_ctx(x="1")
    doc = {"a": "<b>x</b>", "n": 1, "nested": [{"c": "<i>y</i>"}, ("<p>z</p>", None)], "plain": "no"}
    with bind(ctx):
        record_db_values(doc)
        assert tainted(ctx) == []
        make_guard(sinks=())
        record_db_values(doc)
    assert tainted(ctx) == ["<b>x</b>", "<i>y</i>", "<p>z</p>"]
    assert tainted(ctx) == ["<b>x</b>", "<i>y</i>", "<p>z</p>"]  # each read is walked once


def test_taint_is_bounded(make_guard: GuardFactory) -> None:
    make_guard(sinks=())
    ctx = request_ctx(x="1")
    deep: Any = "<deep>"  # at depth MAX_DEPTH + 1 inside the outer list: not read
    for _ in range(MAX_DEPTH):
        deep = [deep]
    shallow: Any = "<ok>"  # at depth MAX_DEPTH: read
    for _ in range(MAX_DEPTH - 1):
        shallow = [shallow]
    with bind(ctx):
        record_db_values([deep, shallow])
        assert tainted(ctx) == ["<ok>"]
        record_db_values([f"<{i}>" for i in range(MAX_VALUES * 2)])
        for _ in range(MAX_READS * 2):
            record_db_values(["<more>"])
    assert len(ctx.db_reads) == MAX_READS
    assert len(tainted(ctx)) == MAX_VALUES
