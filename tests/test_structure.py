"""The shape of the whole house, read from the source with ``ast``.

- No import cycle among the source modules. Every import counts: module level, inside a
  function, and under ``if TYPE_CHECKING`` (a type-only circle is still a circle a reader has
  to untie in their head; a ``Protocol`` on the lower side breaks it).
- The kernel (``rampart/`` without the roof package ``rampart/cli/``) imports none of the
  parts: gateway, inprocess, attacks, labapp, loadtests, benchmarks.
- A few generic names (``model``, ``runtime``, ``incidents``, ``oracle``) name one module each.
- One import name: the parts live in folders at the top of the repository and are imported as
  ``rampart.<part>`` (``rampart/<part>`` links to ``../<part>``; installed, they are
  subpackages of ``rampart``); no source file imports a part by its bare folder name.

An import of ``a.b.c`` is an arrow to ``a.b.c`` only; the parent packages that Python loads
on the way are not arrows (a package's ``__init__`` counts when it is named itself, as in
``from a.b import name`` where ``name`` is not a submodule).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PARTS = ("gateway", "inprocess", "attacks", "labapp", "loadtests")
PACKAGES = ("rampart", *PARTS, "benchmarks")
KERNEL = "rampart"
ROOF = "rampart.cli"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    if parts[0] in PARTS:
        parts = ("rampart", *parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _source_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for pkg in PACKAGES:
        for p in sorted((REPO / pkg).rglob("*.py")):
            inside = p.relative_to(REPO).parts
            if pkg == KERNEL and len(inside) > 2 and inside[1] in PARTS:
                continue  # rampart/<part> is the link to the part's own folder
            files[_module_name(p)] = p
    return files


def _part_of(module: str) -> str | None:
    """The part a module belongs to (``rampart.gateway.app`` -> ``gateway``), None for the kernel
    and the roof."""
    pieces = module.split(".")
    if pieces[0] == "benchmarks":
        return "benchmarks"
    return pieces[1] if len(pieces) > 1 and pieces[1] in PARTS else None


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _targets(node: ast.Import | ast.ImportFrom, package: str, modules: set[str]) -> set[str]:
    """The source modules one import statement names."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    base = node.module or ""
    if node.level:
        anchor = package.split(".")
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    found: set[str] = set()
    for alias in node.names:
        full = f"{base}.{alias.name}"
        if full in modules:
            found.add(full)
        elif base in modules:
            found.add(base)
    return found


def imports_of(path: Path, module: str, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(module, path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found |= _targets(node, package, modules)
    return found - {module}


def import_graph() -> dict[str, set[str]]:
    files = _source_files()
    modules = set(files)
    return {name: imports_of(path, name, modules) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None. Iterative depth-first search."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = [start]
        on_path = {start}
        pending: list[list[str]] = [sorted(graph.get(start, ()))]
        while pending:
            if not pending[-1]:
                pending.pop()
                node = path.pop()
                on_path.discard(node)
                done.add(node)
                continue
            nxt = pending[-1].pop(0)
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt in done:
                continue
            path.append(nxt)
            on_path.add(nxt)
            pending.append(sorted(graph.get(nxt, ())))
    return None


def test_the_graph_covers_every_part() -> None:
    graph = import_graph()
    assert {_part_of(name) for name in graph} == {*PARTS, "benchmarks", None}
    assert {"rampart.gateway.app", "rampart.inprocess.guard", "rampart.cli"} <= set(graph)
    assert "rampart.gateway.config" in graph["rampart.gateway.app"]


def test_no_import_cycle_in_the_source_tree() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _roof(module: str) -> bool:
    return module == ROOF or module.startswith(ROOF + ".")


def test_the_kernel_imports_none_of_the_parts() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        if _part_of(module) is None and not _roof(module)
        for target in targets
        if _part_of(target) is not None or _roof(target)
    )
    assert upward == []


def test_no_part_is_imported_by_its_bare_folder_name() -> None:
    """``import gateway`` would load a second copy of the part beside ``rampart.gateway``."""
    bare = []
    for module, path in _source_files().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            bare += [f"{module}: {n}" for n in names if n.split(".")[0] in (*PARTS, "tests") and n]
    assert bare == []


# names a reader should never have to disambiguate: at most one module per group
ONE_MEANING = (("model",), ("runtime",), ("incidents",), ("oracle", "oracles"))


def test_names_that_mean_one_thing() -> None:
    modules = sorted(import_graph())
    shared = {
        group: found
        for group in ONE_MEANING
        if len(found := [m for m in modules if m.rpartition(".")[2] in group]) > 1
    }
    assert shared == {}


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]


def test_imports_are_read_everywhere_a_file_makes_them(tmp_path: Path) -> None:
    src = tmp_path / "pkg" / "sub" / "mod.py"
    src.parent.mkdir(parents=True)
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "import pkg.a\n"
        "from . import b\n"
        "from ..c import name\n"
        "if TYPE_CHECKING:\n"
        "    from pkg.d import T\n"
        "def f() -> None:\n"
        "    from pkg import e\n",
        encoding="utf-8",
    )
    modules = {"pkg", "pkg.a", "pkg.sub.b", "pkg.c", "pkg.d", "pkg.e", "pkg.sub.mod"}
    assert imports_of(src, "pkg.sub.mod", modules) == {"pkg.a", "pkg.sub.b", "pkg.c", "pkg.d", "pkg.e"}
