"""Plain payload lists (one payload a line) as corpus cases.

The class comes from the ``attack_class`` argument (``rampart import --class``) or else from
the file name (``sqli.txt``, ``xss-payloads.txt``, ``path_traversal.lst``: the words of
:data:`rampart.attacks.importers.gotestwaf.TYPE_CLASSES` and the class names themselves); a list
whose class is neither given nor guessable is refused with that fix. Lines split at ``\\n``
only (a ``\\r`` before it is dropped); blank lines and lines starting with ``# `` (hash,
space: a comment in the list) are skipped. Each payload travels plainly as a URL parameter
in the suite's own request and goes to its class's lab sink when it has one
(:mod:`rampart.attacks.importers.grading`). Source ``payloads:<file stem>``, ids
``pl-<file stem>-<line>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from rampart.attacks.importers.common import ImportResult, SuiteImportError, slug
from rampart.attacks.importers.gotestwaf import type_class
from rampart.attacks.importers.grading import Shot, build_case
from rampart.classes import ATTACK_CLASSES

__all__ = ["class_from_name", "import_payload_list"]

_SHORT = {"sqli": "sql_injection", "nosqli": "nosql_injection", "cmdi": "command_injection", "ssti": "ssti"}


def class_from_name(name: str) -> str | None:
    """The class a payload list's file name suggests, if any."""
    stem = Path(name).stem.lower()
    for cls in ATTACK_CLASSES:
        if cls in stem or cls.replace("_", "-") in stem:
            return cls
    for short, cls in _SHORT.items():
        if short in stem.replace("-", " ").replace("_", " ").split() or stem.startswith(short):
            return cls
    return type_class(stem.replace("-", " ").replace("_", " "))


def import_payload_list(
    path: str | Path,
    *,
    attack_class: str | None = None,
    label: Literal["attack", "benign"] = "attack",
) -> ImportResult:
    """One case per payload line of ``path``."""
    file = Path(path)
    if not file.is_file():
        raise SuiteImportError(f"{file}: no such payload list")
    if attack_class is not None and attack_class not in ATTACK_CLASSES:
        raise SuiteImportError(f"unknown class {attack_class!r}; use one of {', '.join(ATTACK_CLASSES)}")
    cls = attack_class or class_from_name(file.name)
    if cls is None and label == "attack":
        raise SuiteImportError(
            f"{file}: cannot tell the attack class from the file name; pass --class "
            f"(one of {', '.join(ATTACK_CLASSES)})"
        )
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SuiteImportError(f"{file}: not UTF-8 text (byte {exc.start}); convert it first") from None
    source = f"payloads:{slug(file.stem)}"
    result = ImportResult()
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.removesuffix("\r")
        if not line.strip() or line.startswith("# "):
            continue
        shot = Shot(line, line, "plain", "query")
        try:
            result.cases.append(
                build_case(
                    shot,
                    case_id=f"pl-{slug(file.stem)}-{lineno:05d}",
                    label=label,
                    attack_class=cls,
                    source=source,
                    provenance=f"payload list {file.name}:{lineno}",
                    tags=["payload-list"],
                )
            )
        except ValueError as exc:
            result.skipped.append(f"{file.name}:{lineno}: {exc}")
    if not result.cases and not result.skipped:
        raise SuiteImportError(f"{file}: the list holds no payloads")
    result.drop_duplicates()
    return result
