"""Corpus importers: captured traffic and public test suites as corpus cases.

One module per format, each recording the cases' ``source``:

- :mod:`~rampart.attacks.importers.traffic`: HAR files and mitmproxy flow files (``traffic:<file>``);
- :mod:`~rampart.attacks.importers.gotestwaf`: GoTestWAF test-case folders (``gotestwaf:<set>``);
- :mod:`~rampart.attacks.importers.ftw`: go-ftw YAML, OWASP CRS's regression tests (``crs-ftw:<version>``);
- :mod:`~rampart.attacks.importers.payloads`: plain payload lists (``payloads:<file>``).

:mod:`~rampart.attacks.importers.grading` decides where an imported payload is sent so the lab's
oracle can grade it. :func:`import_any` picks the format from the path (or is told it) and
looks its importer up in :data:`importers`; ``rampart import`` and ``rampart demo --suite``
call it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from rampart.attacks.cases import Case
from rampart.attacks.importers.common import ImportResult, SuiteImportError
from rampart.attacks.importers.traffic import (
    DROPPED_HEADERS,
    Exchange,
    TrafficImportError,
    detect_format,
    exchange_to_case,
    import_file,
    import_traffic,
    read_flow_file,
    read_har,
    refusal,
)
from rampart.jsonl import read_lines, write_lines
from rampart.registry import Registry

__all__ = [
    "DROPPED_HEADERS",
    "FORMATS",
    "Exchange",
    "ImportResult",
    "Importer",
    "SuiteImportError",
    "TrafficImportError",
    "detect_format",
    "detect_suite_format",
    "exchange_to_case",
    "import_any",
    "import_file",
    "import_traffic",
    "importers",
    "read_cases",
    "read_flow_file",
    "read_har",
    "refusal",
    "write_jsonl",
]

SuiteFormat = Literal["traffic", "gotestwaf", "ftw", "payloads", "cases"]
FORMATS: tuple[SuiteFormat, ...] = ("traffic", "gotestwaf", "ftw", "payloads", "cases")


def _looks_like_ftw(path: Path) -> bool:
    files = [path] if path.is_file() else sorted(path.rglob("*.yaml"))[:20]
    for file in files:
        if file.suffix.lower() not in (".yaml", ".yml"):
            continue
        try:
            head = file.read_text(encoding="utf-8")[:4000]
        except (OSError, UnicodeDecodeError):
            continue
        if "stages:" in head and "tests:" in head:
            return True
    return False


def detect_suite_format(path: Path) -> SuiteFormat:
    """The format of ``path``: a folder of go-ftw or GoTestWAF YAML, a capture, cases, or a list."""
    from rampart.attacks.importers.gotestwaf import is_gotestwaf_folder

    if not path.exists():
        raise SuiteImportError(f"{path}: no such file or folder")
    if path.is_dir():
        if _looks_like_ftw(path):
            return "ftw"
        if is_gotestwaf_folder(path):
            return "gotestwaf"
        raise SuiteImportError(
            f"{path}: a folder of neither go-ftw tests nor GoTestWAF test cases; pass --format"
        )
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "ftw" if _looks_like_ftw(path) else "gotestwaf"
    if suffix == ".jsonl":
        return "cases"
    if suffix in (".txt", ".lst", ".list"):
        return "payloads"
    return "traffic"


def read_cases(path: str | Path) -> ImportResult:
    """Cases from a JSON-lines file (one ``Case.dump()`` per line); bad lines are skipped and listed."""
    from pydantic import ValidationError

    file = Path(path)
    result = ImportResult()
    for line in read_lines(file):
        try:
            result.cases.append(Case.model_validate_json(line))
        except ValidationError as exc:
            err = exc.errors()[0]
            result.skipped.append(
                f"{file.name}:{line.lineno}: {'.'.join(map(str, err['loc']))}: {err['msg']}"
            )
    return result


Importer = Callable[[Path, str | None], ImportResult]
"""``(path, attack_class)`` -> the cases of one suite format (``attack_class`` labels a
payload list; the other formats carry their own labels)."""

importers: Registry[Importer] = Registry("suite format")


@importers.register("traffic")
def _import_traffic_file(file: Path, attack_class: str | None) -> ImportResult:
    return import_file(file)


@importers.register("gotestwaf")
def _import_gotestwaf(file: Path, attack_class: str | None) -> ImportResult:
    from rampart.attacks.importers.gotestwaf import import_gotestwaf, import_test_case

    return import_test_case(file, file.parent.name) if file.is_file() else import_gotestwaf(file)


@importers.register("ftw")
def _import_ftw(file: Path, attack_class: str | None) -> ImportResult:
    from rampart.attacks.importers.ftw import import_ftw

    return import_ftw(file)


@importers.register("payloads")
def _import_payloads(file: Path, attack_class: str | None) -> ImportResult:
    from rampart.attacks.importers.payloads import import_payload_list

    return import_payload_list(file, attack_class=attack_class)


@importers.register("cases")
def _import_cases(file: Path, attack_class: str | None) -> ImportResult:
    return read_cases(file)


def import_any(
    path: str | Path,
    fmt: SuiteFormat | None = None,
    *,
    attack_class: str | None = None,
) -> ImportResult:
    """Import ``path`` in format ``fmt`` (detected when ``None``)."""
    file = Path(path)
    return importers.get(fmt or detect_suite_format(file))(file, attack_class)


def write_jsonl(cases: list[Case] | tuple[Case, ...], path: str | Path) -> int:
    """Write ``cases`` as JSON lines (the corpus format); returns how many were written."""
    return write_lines(path, (c.dump() for c in cases))
