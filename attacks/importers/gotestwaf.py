"""GoTestWAF test-case folders as corpus cases.

A GoTestWAF suite is a folder of test sets (``<root>/<set>/<case>.yml``); each YAML file
lists ``payload`` strings, the ``encoder`` names that rewrite them and the ``placeholder``
names that say where they travel (a string, or a one-key map whose value configures it),
and the ``type`` of attack. GoTestWAF sends every payload x encoder x placeholder; so does
this importer, one case each. A test set whose name starts with ``false`` (GoTestWAF's
``false-pos``) holds benign texts; the rest are attacks.

Encoders: ``Plain``, ``URL`` (every byte but letters, digits and ``-._~`` percent-encoded),
``Base64``, ``Base64Flat`` (no ``=`` padding), ``JSUnicode`` (each UTF-16 unit as ``\\uXXXX``),
``XMLEntity`` (markup characters as character references). Placeholders: ``URLParam``,
``URLPath``, ``Header``, ``UserAgent``, ``JSONRequest`` (a JSON object, the value
JSUnicode-escaped), ``JSONBody`` (the payload is the JSON body), ``HTMLForm``,
``HTMLMultipartForm``, ``RequestBody``, ``XMLBody``, ``SOAPBody``. gRPC, GraphQL, raw
requests and the non-CRUD placeholder have no HTTP form the harness sends; their
combinations are skipped and listed.

The ``type`` maps to a rampart class (:data:`TYPE_CLASSES`, matched on lower-case words);
an unmapped type stays an attack without a class. :mod:`rampart.attacks.importers.grading` decides
where each case is sent and whether the oracle can grade it. Cases carry the source
``gotestwaf:<set>`` and ids ``gtw-<set>-<file>-<payload#>-<encoder>-<placeholder>``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from rampart.attacks.importers.common import ImportResult, SuiteImportError, slug
from rampart.attacks.importers.grading import Carrier, Shot, build_case, js_unicode, xml_entities

__all__ = ["ENCODERS", "PLACEHOLDERS", "TYPE_CLASSES", "import_gotestwaf", "is_gotestwaf_folder"]

ENCODERS: dict[str, Callable[[str], str]] = {
    "plain": lambda s: s,
    "url": lambda s: quote(s, safe="-._~"),
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64flat": lambda s: base64.b64encode(s.encode()).decode().rstrip("="),
    "jsunicode": js_unicode,
    "xmlentity": xml_entities,
}
PLACEHOLDERS: dict[str, Carrier] = {
    "urlparam": "query",
    "urlpath": "path",
    "header": "header",
    "useragent": "user_agent",
    "jsonrequest": "json",
    "jsonbody": "json_body",
    "htmlform": "form",
    "htmlmultipartform": "multipart",
    "requestbody": "body",
    "xmlbody": "xml",
    "soapbody": "soap",
}
_UNSENDABLE = {"grpc", "graphql", "rawrequest", "noncrud"}
# words in a GoTestWAF ``type`` -> rampart class (first match wins)
TYPE_CLASSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("nosql",), "nosql_injection"),
    (("sql",), "sql_injection"),
    (("xss", "cross-site", "cross site"), "xss"),
    (("path traversal", "lfi", "local file"), "path_traversal"),
    (("ssrf", "server-side request", "server side request"), "ssrf"),
    (("ssti", "sst", "template"), "ssti"),
    (("rce", "shell", "command"), "command_injection"),
    (("deserial",), "deserialization"),
    (("code injection",), "code_injection"),
    (("prompt",), "prompt_injection"),
)
_BENIGN_SINKS = ("sql_injection", "xss", "prompt_injection")


def type_class(kind: str) -> str | None:
    """The rampart class of a GoTestWAF ``type`` ("SQL Injection" -> ``sql_injection``)."""
    low = kind.lower()
    for words, cls in TYPE_CLASSES:
        if any(w in low for w in words):
            return cls
    return None


def is_gotestwaf_folder(path: Path) -> bool:
    """A folder holding ``<set>/<case>.yml`` files with ``payload`` lists."""
    if not path.is_dir():
        return False
    for file in sorted(path.glob("*/*.y*ml"))[:5]:
        try:
            doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict) and "payload" in doc:
            return True
    return False


def _names(doc: dict[str, Any], key: str, where: str) -> list[str]:
    raw = doc.get(key)
    if not isinstance(raw, list) or not raw:
        raise SuiteImportError(f"{where}: '{key}' must be a non-empty list (GoTestWAF test case format)")
    out: list[str] = []
    for item in raw:
        if isinstance(item, dict) and len(item) == 1:
            out.append(str(next(iter(item))))
        elif isinstance(item, str):
            out.append(item)
        else:
            raise SuiteImportError(f"{where}: '{key}' entry {item!r} is neither a name nor a one-key map")
    return out


def _read(file: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise SuiteImportError(
            f"{file}{line}: not valid YAML ({exc.__class__.__name__}); fix the file"
        ) from None
    except UnicodeDecodeError:
        raise SuiteImportError(f"{file}: not UTF-8 text") from None
    if not isinstance(doc, dict):
        raise SuiteImportError(f"{file}: a GoTestWAF test case is a map with payload, encoder, placeholder")
    return doc


def import_test_case(file: Path, test_set: str) -> ImportResult:
    """The cases of one GoTestWAF ``<case>.yml`` of ``test_set``."""
    doc = _read(file)
    where = str(file)
    payloads = doc.get("payload")
    if not isinstance(payloads, list) or not payloads:
        raise SuiteImportError(f"{where}: 'payload' must be a non-empty list of strings")
    encoders = _names(doc, "encoder", where)
    placeholders = _names(doc, "placeholder", where)
    benign = test_set.lower().startswith("false")
    kind = str(doc.get("type", ""))
    cls = None if benign else type_class(kind)
    source = f"gotestwaf:{slug(test_set)}"
    result = ImportResult()
    for name in encoders:
        if name.lower() not in ENCODERS:
            result.skipped.append(f"{file.name}: encoder {name!r} unknown; known: {', '.join(ENCODERS)}")
    for name in placeholders:
        low = name.lower()
        if low in _UNSENDABLE:
            result.skipped.append(
                f"{file.name}: placeholder {name} has no plain HTTP form; its cases are skipped"
            )
        elif low not in PLACEHOLDERS:
            result.skipped.append(
                f"{file.name}: placeholder {name!r} unknown; known: {', '.join(PLACEHOLDERS)}"
            )
    for i, payload in enumerate(payloads):
        if not isinstance(payload, str):
            result.skipped.append(f"{file.name}: payload #{i} is not a string ({type(payload).__name__})")
            continue
        for enc in encoders:
            encode = ENCODERS.get(enc.lower())
            if encode is None:
                continue
            for ph in placeholders:
                carrier = PLACEHOLDERS.get(ph.lower())
                if carrier is None:
                    continue
                shot = Shot(payload, encode(payload), enc.lower(), carrier)
                case_id = f"gtw-{slug(test_set)}-{slug(file.stem)}-{i:03d}-{enc.lower()}-{ph.lower()}"
                attack_class = _BENIGN_SINKS[i % len(_BENIGN_SINKS)] if benign else cls
                tags = ["gotestwaf", f"gotestwaf-type:{slug(kind, 'none')}", f"placeholder:{ph}"]
                try:
                    result.cases.append(
                        build_case(
                            shot,
                            case_id=case_id,
                            label="benign" if benign else "attack",
                            attack_class=attack_class,
                            source=source,
                            provenance=f"GoTestWAF {test_set}/{file.name}",
                            tags=tags,
                            suite_path="/",
                        )
                    )
                except ValueError as exc:
                    result.skipped.append(f"{file.name}: payload #{i} {enc}/{ph}: {exc}")
    return result


def import_gotestwaf(root: str | Path) -> ImportResult:
    """Every test case under a GoTestWAF ``testcases`` folder (or one test set folder)."""
    base = Path(root)
    if not base.is_dir():
        raise SuiteImportError(f"{base}: not a folder; give a GoTestWAF testcases folder")
    files = sorted(base.glob("*/*.y*ml"))
    sets = [(f, f.parent.name) for f in files]
    if not sets:
        sets = [(f, base.name) for f in sorted(base.glob("*.y*ml"))]
    if not sets:
        raise SuiteImportError(f"{base}: no <set>/<case>.yml files; is this a GoTestWAF testcases folder?")
    result = ImportResult()
    for file, test_set in sets:
        result.extend(import_test_case(file, test_set))
    result.drop_duplicates()
    return result
