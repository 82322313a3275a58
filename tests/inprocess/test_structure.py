"""The shape of the ``inprocess`` package: no import cycle (function-level imports count,
``TYPE_CHECKING`` imports do not), the front door keeps its name, sinks reach the guard only
through its public API."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

from rampart import inprocess

ROOT = Path(inprocess.__file__).parent


def _module_name(path: Path) -> str:
    parts = ("rampart", *path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The ``inprocess`` modules ``path`` imports anywhere (not under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in modules:
                    found.add(full)
                elif node.module in modules:
                    found.add(node.module)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(files)
    return {name: _imports(path, modules) - {name} for name, path in files.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt == "inprocess":
                continue  # the package itself: only the front door lives there
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_inprocess_has_no_import_cycle() -> None:
    graph = _graph()
    assert {"rampart.inprocess.guard", "rampart.inprocess.install"} <= set(graph)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_guard_imports_no_sink_and_no_installer() -> None:
    imported = _graph()["rampart.inprocess.guard"]
    parts = (
        "rampart.inprocess.sinks",
        "rampart.inprocess.install",
        "rampart.inprocess.propagation",
        "rampart.inprocess.patching",
    )
    assert not any(m.startswith(parts) for m in imported)


def test_sinks_use_only_the_public_guard_api() -> None:
    for path in (ROOT / "sinks").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "guard._" not in text, path.name
        assert "runtime" not in text, path.name


def test_front_door_keeps_its_name_after_every_submodule_is_imported() -> None:
    for info in pkgutil.walk_packages(inprocess.__path__, "rampart.inprocess."):
        importlib.import_module(info.name)
    assert callable(inprocess.install)
    assert inprocess.install.__module__ == "rampart.inprocess.install"
