"""The SecLang executor compiled to C with mypyc, used when it matches the source.

The hot modules of the native engine (:data:`MODULES`) are ordinary, fully typed Python. mypyc
(part of mypy, already in the lock) compiles them, unchanged, into C extensions; with the
project's CRS set-up that takes a benign request's inspection from about 1.0x to about 0.6x
of libmodsecurity's CPU (docs/BENCHMARKS.md). The compiled modules are an option, never a
requirement:

- ``python -m rampart.accel build`` compiles them (``scripts/bootstrap.sh`` runs it; it needs
  a C compiler, and without one the engine stays pure Python and says so once);
- each package that holds a compiled module puts its ``_compiled/`` folder first on its
  ``__path__`` (:func:`extend`), but only when the build's stamp names the exact source of
  every module in the group and this interpreter: an edited source, another Python or a
  half-finished build all give pure Python, never a stale extension;
- ``RAMPART_PURE_PYTHON=1`` turns them off;
- ``python -m rampart.accel status`` tells which is in use.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

__all__ = ["MODULES", "active", "build", "current", "extend", "main", "status"]

# Compiled together, as one group: a class in one may inherit from a class in another
# (plan._Sandbox from executor.Transaction), and mypyc allows that only within a group.
_SECLANG = "rampart.gateway.engines.native.seclang"
_CORE = ("executor", "plan", "memo", "variables", "prefilter", "bodies", "engine", "rules")
_OPERATORS = (
    *("always", "factors", "identifiers", "injection", "literals", "match", "network", "numeric"),
    *("pcre", "phrases", "regex", "strings", "survey", "validation"),
)
_TRANSFORMS = ("codecs", "comments", "markup", "paths", "text", "url")
# the YAML rules' own transformations and operators (rampart's rules, beside CRS)
_NATIVE = "rampart.gateway.engines.native"
_YAML_TRANSFORMS = ("b64", "css", "html", "js", "path", "shell", "sql", "text", "url")
_YAML_OPERATORS = ("detect_sqli", "detect_xss")
MODULES: tuple[str, ...] = (
    *(f"{_SECLANG}.{name}" for name in _CORE),
    *(f"{_SECLANG}.operators.{name}" for name in _OPERATORS),
    *(f"{_SECLANG}.transforms.{name}" for name in _TRANSFORMS),
    *(f"{_NATIVE}.transforms.{name}" for name in _YAML_TRANSFORMS),
    *(f"{_NATIVE}.operators.{name}" for name in _YAML_OPERATORS),
    *(f"{_NATIVE}.{name}" for name in ("budget", "combined", "engine", "parsing", "plain")),
)
GROUP = "rampart.gateway.engines.native.seclang._accel"  # the group's shared library
COMPILED = "_compiled"
STAMP = "stamp.json"
PURE_ENV = "RAMPART_PURE_PYTHON"
_ROOT = Path(__file__).resolve().parent  # the rampart package
_SUFFIX: str = sysconfig.get_config_var("EXT_SUFFIX")  # an extension module's file ending here


def _source(module: str) -> Path:
    parts = module.split(".")
    return _ROOT.joinpath(*parts[1:]).with_suffix(".py")


def _package_dir(module: str) -> Path:
    return _source(module).resolve().parent


def _digest() -> str:
    """What a build must have been made from: every module's source, this interpreter's ABI
    and mypy's version (which carries mypyc's runtime)."""
    digest = hashlib.sha256()
    digest.update(_SUFFIX.encode())
    digest.update(sys.version.encode())
    spec = importlib.util.find_spec("mypy")
    if spec is not None and spec.origin is not None:
        version = Path(spec.origin).with_name("version.py")
        if version.exists():
            digest.update(version.read_bytes())
    for module in MODULES:
        digest.update(module.encode())
        digest.update(_source(module).read_bytes())
    return digest.hexdigest()


def _stamp_path() -> Path:
    return _package_dir(MODULES[0]) / COMPILED / STAMP


_current: bool | None = None


def current() -> bool:
    """Whether the compiled modules match the source and this interpreter (checked once)."""
    global _current
    if _current is None:
        try:
            stamp = json.loads(_stamp_path().read_text())
            _current = stamp.get("digest") == _digest() and all(
                (_package_dir(m) / COMPILED / name).exists() for m, name in stamp["files"].items()
            )
        except (OSError, ValueError, KeyError, AttributeError):
            _current = False
    return _current


def _turned_off() -> bool:
    return os.environ.get(PURE_ENV, "").strip() not in ("", "0")


def extend(path: list[str], package: str) -> list[str]:
    """``package``'s ``__path__`` with its ``_compiled/`` folder first, when the compiled group
    is current and not turned off (see the module's documentation)."""
    if _turned_off() or not path:
        return path
    compiled = os.path.join(path[0], COMPILED)
    if not os.path.isdir(compiled) or not current():
        return path
    return [compiled, *path]


def active() -> dict[str, bool]:
    """Per compiled module, whether the loaded copy is the C extension (imports them)."""
    out: dict[str, bool] = {}
    for module in MODULES:
        loaded = importlib.import_module(module)
        out[module] = str(getattr(loaded, "__file__", "")).endswith(_SUFFIX)
    return out


def status() -> str:
    """One line: compiled or pure Python, and why."""
    if _turned_off():
        return f"pure Python ({PURE_ENV} is set)"
    if not current():
        return "pure Python (no compiled build for this source and Python: python -m rampart.accel build)"
    modules = active()
    if all(modules.values()):
        return f"compiled ({len(modules)} modules, mypyc)"
    missing = ", ".join(m for m, compiled in modules.items() if not compiled)
    return f"pure Python (compiled build present but not loaded: {missing})"


def build(*, force: bool = False, quiet: bool = False) -> bool:
    """Compile :data:`MODULES` with mypyc into each package's ``_compiled/`` folder (a
    subprocess does the compiling); ``False`` when it could not (no C compiler, no mypyc).
    Skipped when the build is current, unless ``force``."""
    if not force and current():
        if not quiet:
            print("rampart.accel: compiled modules are up to date")
        return True
    print(f"rampart.accel: compiling {len(MODULES)} modules of the native engine with mypyc (about a minute)")
    root = _ROOT.parent
    sources = [str(_source(m).relative_to(root)) for m in MODULES]
    with tempfile.TemporaryDirectory(prefix="rampart-accel-") as tmp:
        script = (
            "import sys\n"
            "from setuptools import setup\n"
            "from mypyc.build import mypycify\n"
            f"ext = mypycify({['--ignore-missing-imports', *sources]!r}, opt_level='3', "
            f"group_name={GROUP!r})\n"
            "setup(name='rampart-accel', ext_modules=ext, script_args=['build_ext', '--build-lib', "
            f"{str(Path(tmp) / 'lib')!r}, '--build-temp', {str(Path(tmp) / 'temp')!r}])\n"
        )
        env = {**os.environ, "PYTHONPATH": str(root), PURE_ENV: "1"}
        # mypyc writes its generated C under ./build: run where that is a scratch folder
        work = Path(tmp) / "work"
        work.mkdir()
        (work / "rampart").symlink_to(_ROOT)
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            print(f"rampart.accel: not built; the native engine stays pure Python\n{tail}", file=sys.stderr)
            return False
        built = Path(tmp) / "lib"
        files: dict[str, str] = {}
        staged: list[tuple[Path, Path]] = []
        for name in [*MODULES, GROUP + "__mypyc"]:
            relative = Path(*name.split(".")[1:]).with_suffix("")
            found = built / "rampart" / relative.parent / (relative.name + _SUFFIX)
            if not found.exists():
                print(f"rampart.accel: the build made no {found.name}; pure Python stays", file=sys.stderr)
                return False
            target = _package_dir(name) / COMPILED / found.name
            staged.append((found, target))
            files[name] = found.name
        # the old build goes first (a module no longer listed must not load from it) and the
        # stamp last, so an interrupted copy leaves no stamp that matches
        clean()
        for found, target in staged:
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(found, target)
        _stamp_path().write_text(json.dumps({"digest": _digest(), "files": files}, indent=1) + "\n")
    global _current
    _current = None
    print(f"rampart.accel: compiled {len(MODULES)} modules")
    return True


def clean() -> None:
    """Remove every compiled module and the stamp."""
    for name in [*MODULES, GROUP]:
        shutil.rmtree(_package_dir(name) / COMPILED, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rampart.accel", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("build", "status", "clean"))
    parser.add_argument("--force", action="store_true", help="build even when the build is current")
    parser.add_argument("--quiet", action="store_true", help="say nothing when the build is current")
    args = parser.parse_args(argv)
    if args.command == "build":
        return 0 if build(force=args.force, quiet=args.quiet) else 1
    if args.command == "clean":
        clean()
        return 0
    print(status())
    return 0


if __name__ == "__main__":
    sys.exit(main())
