"""go-ftw files (OWASP CRS's regression tests) as corpus cases.

Each stage of each test becomes at most one case; :mod:`rampart.attacks.ftw.reader` reads the files.

**Label.** A stage that expects a rule id in the log (or only a 403) is an attack. A stage
that expects no rule is *not* presumed benign: in CRS's suite it usually says only that one
rule must stay silent on a request that may well be an attack for the others ("SQL
Tautology" variants, paranoia-level boundaries). It becomes a benign case only when its
title or description says it is a legitimate request (:data:`BENIGN_WORDS`: "FP", "false
positive", "negative test", "should pass", "should not trigger", "legitimate", "benign",
"allowed" but not "not allowed") and names no attack (:data:`ATTACK_WORDS`: "attack",
"bypass", "injection", "evasion", "exploit", "malicious", "payload"); every other such
stage is skipped and listed with that reason.

**Class.** The rule's family (its id's first three digits, :data:`FAMILY_CLASSES`) gives
the class: 930 LFI -> path traversal, 931 RFI -> SSRF (a URL the application would fetch),
932 RCE -> command injection, 941 XSS, 942 SQL injection. Other families (protocol
enforcement, scanners, PHP, Node.js/generic, Java, session fixation) have no rampart class:
their attacks stay unclassified and flag-only.

**Placement.** When the stage carries its payload in exactly one URL-query or form
parameter (the common CRS shape, ``/?var=<payload>`` or ``var=<payload>`` in a form body,
which CRS 3 tests often send without a content type)
and the class has a lab sink, the value goes to that sink
(:mod:`rampart.attacks.importers.grading`; a form value is relocated, a query value keeps its wire
bytes). Everything else (headers, cookies, paths, several parameters, protocol tests) keeps
CRS's own request aimed at the lab's root (``endpoint: external``), so every layer still
sees it. Stages given as raw bytes (``raw_request``, ``encoded_request``) cannot be held by
a case and are skipped. Source ``crs-ftw:<version>`` (the version from the folder name,
e.g. ``v4.28.0`` -> ``4.28.0``), ids ``ftw-<version>-<rule>-<test>-s<stage>``.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from rampart.attacks.cases import Case, HttpRequest
from rampart.attacks.ftw import FtwFormatError, FtwStage, FtwTest, load_dir, load_file
from rampart.attacks.importers.common import ImportResult, SuiteImportError, slug
from rampart.attacks.importers.grading import Shot, build_case

__all__ = ["ATTACK_WORDS", "BENIGN_WORDS", "FAMILY_CLASSES", "import_ftw", "stage_to_case", "version_of"]

FAMILY_CLASSES: dict[int, str] = {
    930: "path_traversal",
    931: "ssrf",
    932: "command_injection",
    941: "xss",
    942: "sql_injection",
}
BENIGN_WORDS = re.compile(
    r"\bFP\b|false[ -]?positive|negative test|should (?:pass|not (?:trigger|match|block))|"
    r"legitimate|benign|(?<!not )\ballowed\b",
    re.IGNORECASE,
)
ATTACK_WORDS = re.compile(r"attack|bypass|injection|evasion|exploit|malicious|payload", re.IGNORECASE)
_VERSION = re.compile(r"v?(\d+\.\d+\.\d+)")
# set by the client or the harness, or meaningless on another host
_DROP = frozenset({"host", "content-length", "connection", "transfer-encoding", "cookie", "content-type"})


def version_of(path: Path) -> str:
    """The CRS version a test folder belongs to (from the first ``vX.Y.Z`` in its path)."""
    for part in reversed(path.resolve().parts):
        m = _VERSION.fullmatch(part)
        if m:
            return m.group(1)
    return slug(path.name, "unknown")


def _label(test: FtwTest, stage: FtwStage) -> str | None:
    if stage.expect_ids or (stage.expect_status and set(stage.expect_status) <= {403}):
        return "attack"
    text = f"{test.title} {test.description}"
    if BENIGN_WORDS.search(text) and not ATTACK_WORDS.search(text):
        return "benign"
    return None


def _request(stage: FtwStage) -> HttpRequest:
    parts = urlsplit(stage.uri if stage.uri.startswith("/") else "/" + stage.uri)
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    for name, value in stage.headers:
        low = name.lower()
        if low == "cookie":
            for item in value.split(";"):
                k, sep, v = item.strip().partition("=")
                if sep and k:
                    cookies[k] = v
        elif low not in _DROP:
            headers[name] = value
    body = stage.body.decode("utf-8") if stage.body else None
    return HttpRequest(
        method=stage.method or "GET",
        path=parts.path or "/",
        raw_query=parts.query or None,
        headers=headers,
        cookies=cookies,
        content_type=stage.header("Content-Type"),
        body=body,
    )


def _single_parameter(stage: FtwStage, request: HttpRequest) -> Shot | None:
    """The stage's payload when it sits alone in one query or form parameter."""
    query = request.raw_query or ""
    form = ""
    ctype = (request.content_type or "").lower()
    bare = not ctype and "=" in (request.body or "") and "\n" not in (request.body or "")
    if request.body and (ctype.startswith("application/x-www-form-urlencoded") or bare):
        form = request.body
    pairs = [("query", query)] if query else []
    if form:
        pairs.append(("form", form))
    if len(pairs) != 1 or request.headers.keys() - {"User-Agent", "Accept"} or request.cookies:
        return None
    carrier, text = pairs[0]
    items = [p for p in text.split("&") if p]
    if len(items) != 1:
        return None
    _name, sep, raw = items[0].partition("=")
    if not sep or not raw:
        return None
    decoded = unquote_plus(raw) if carrier == "form" else parse_qsl(f"x={raw}", keep_blank_values=True)[0][1]
    return Shot(decoded, raw, "url", "query" if carrier == "query" else "form")


def stage_to_case(test: FtwTest, index: int, stage: FtwStage, *, version: str) -> Case | str:
    """The case of one stage, or the reason it was skipped."""
    if stage.raw_request is not None:
        return "given as raw bytes (raw_request / encoded_request): a case cannot hold them"
    label = _label(test, stage)
    if label is None:
        ids = ", ".join(map(str, sorted(stage.no_expect_ids))) or "none"
        return f"expects no rule (must stay silent: {ids}) but does not say the request is legitimate"
    try:
        request = _request(stage)
    except UnicodeDecodeError:
        return "the body is not UTF-8 text"
    family = test.rule_id // 1000
    cls = FAMILY_CLASSES.get(family) if label == "attack" else None
    test_no = test.test_id if test.test_id is not None else index
    case_id = f"ftw-{slug(version)}-{test.rule_id}-{slug(str(test_no))}-s{index}"
    tags = ["crs-ftw", f"crs-rule:{test.rule_id}", f"crs-family:{family}"]
    source = f"crs-ftw:{version}"
    provenance = f"OWASP CRS {version} regression test {test.title} ({test.file.name})"
    shot = _single_parameter(stage, request) if cls is not None else None
    if shot is not None:
        return build_case(
            shot,
            case_id=case_id,
            label="attack",
            attack_class=cls,
            source=source,
            provenance=provenance,
            tags=tags,
            notes=(test.description or "")[:300],
            suite_path=request.path,
            suite_method=request.method,
        )
    return Case.model_validate(
        {
            "id": case_id,
            "label": label,
            "class": cls,
            "endpoint": "external",
            "request": request,
            "placement": "as-written",
            "source": source,
            "provenance": provenance,
            "tags": tags,
            "notes": (test.description or "")[:300],
        }
    )


def import_ftw(path: str | Path) -> ImportResult:
    """Cases from one go-ftw file or every file under a folder (CRS's ``tests/regression/tests``)."""
    root = Path(path)
    if not root.exists():
        raise SuiteImportError(f"{root}: no such go-ftw file or folder")
    version = version_of(root)
    try:
        tests = load_dir(root) if root.is_dir() else load_file(root)
    except FtwFormatError as exc:
        raise SuiteImportError(str(exc)) from None
    if not tests:
        raise SuiteImportError(f"{root}: no go-ftw tests found (files named *.yaml with a 'tests' list)")
    result = ImportResult()
    seen: set[str] = set()
    for test in tests:
        for index, stage in enumerate(test.stages, 1):
            where = f"{test.file.name}: {test.title} stage {index}"
            try:
                made = stage_to_case(test, index, stage, version=version)
            except ValueError as exc:
                result.skipped.append(f"{where}: {exc}")
                continue
            if isinstance(made, str):
                result.skipped.append(f"{where}: {made}")
            elif made.id in seen:
                result.skipped.append(f"{where}: duplicate id {made.id}")
            else:
                seen.add(made.id)
                result.cases.append(made)
    result.drop_duplicates()
    return result
