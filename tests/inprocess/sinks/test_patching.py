"""Patching machinery: lazy patching on first import, idempotence, undo, and fail-open for
errors inside audit-hook handlers."""

from __future__ import annotations

import importlib
import sqlite3
import sys
from pathlib import Path
from types import ModuleType

import pytest

from rampart.inprocess import sinks
from rampart.inprocess.install import activate
from rampart.inprocess.patching import Patcher, original_of, version_at_least


def test_patch_applies_on_first_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rmp_lazy_target.py").write_text("def greet():\n    return 'hi'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("rmp_lazy_target", None)
    patcher = Patcher()
    seen: list[str] = []

    def apply(module: ModuleType) -> None:
        seen.append(module.__name__)
        patcher.wrap(module, "greet", lambda original: lambda: original() + "!")

    patcher.when_imported("rmp_lazy_target", apply)
    assert seen == []
    module = importlib.import_module("rmp_lazy_target")
    try:
        assert seen == ["rmp_lazy_target"]
        assert module.greet() == "hi!"
        patcher.undo()
        assert module.greet() == "hi"
        assert not any(type(f).__name__ == "_PostImportFinder" for f in sys.meta_path)
    finally:
        sys.modules.pop("rmp_lazy_target", None)


def test_wrap_is_idempotent_and_undoable() -> None:
    class Target:
        def run(self) -> int:
            return 1

    first, second = Patcher(), Patcher()
    first.wrap(Target, "run", lambda original: lambda self: original(self) + 1)
    second.wrap(Target, "run", lambda original: lambda self: original(self) + 100)
    assert Target().run() == 2
    assert original_of(Target.run)(Target()) == 1
    second.undo()
    first.undo()
    assert Target().run() == 1


def test_install_twice_wraps_once(make_guard) -> None:
    guard = make_guard("block")
    activate(guard)
    sinks.install()
    conn = sqlite3.connect(":memory:")
    assert type(conn).__mro__[1] is sqlite3.Connection


def test_audit_handler_error_fails_open(make_guard) -> None:
    guard = make_guard("block")
    patcher = Patcher()

    def broken(args: tuple[object, ...]) -> None:
        raise ValueError("handler bug")

    patcher.audit("rampart.test.event", broken)
    try:
        sys.audit("rampart.test.event", 1)
    finally:
        patcher.undo()
    assert guard.errors == 1
    assert "handler bug" in guard.recent_errors[-1]


@pytest.mark.parametrize(
    ("dist", "minimum", "expected"),
    [("pymongo", (4, 9), True), ("pymongo", (99,), False), ("no-such-dist-rmp", (1,), False)],
)
def test_version_gate(dist: str, minimum: tuple[int, ...], expected: bool) -> None:
    assert version_at_least(dist, minimum) is expected
