"""Read go-ftw test files (OWASP CRS's regression suite) into frozen values.

Two flavours exist and both load into the same model:

- **v3** (CRS 3.x, the Python ``ftw`` heritage): ``tests: - test_title: ...,
  stages: - stage: {input, output}``; ``output`` holds ``log_contains`` /
  ``no_log_contains`` (``id "942100"``), ``status`` (one code or a list) and ``expect_error``;
  ``input`` may carry ``stop_magic: true`` (send the request exactly as written);
- **v4** (CRS 4.x): a top-level ``rule_id``, ``tests: - test_id: N, stages: - {input,
  output}``; ``output.log.expect_ids`` / ``no_expect_ids``; ``input.autocomplete_headers:
  false`` replaces ``stop_magic``.

Both may give the request as ``raw_request`` (text) or ``encoded_request`` (base64), and the
body as ``data``: a string, or a list of lines that go-ftw joins with CRLF.

The request is built as go-ftw sends it: unless autocompletion is switched off, a body gets
``Content-Type: application/x-www-form-urlencoded`` and a ``Content-Length`` when the test
gives none, and every request a ``Connection: close`` when absent.
Overrides files (``*-overrides.yaml``) replace the expected output of named tests for one
engine/platform; :func:`apply_overrides` applies them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "FtwFormatError",
    "FtwOverride",
    "FtwStage",
    "FtwTest",
    "apply_overrides",
    "load_dir",
    "load_file",
    "load_overrides",
]

_LOG_ID = re.compile(r"""id\s*[:"]?\s*"?(\d{3,})""")
_TITLE_RULE = re.compile(r"^(\d{6})")
_REPEAT = re.compile(r"""\{\{\s*"((?:[^"\\]|\\.)*)"\s*\|\s*repeat\s+(\d{1,7})\s*\}\}""")


class FtwFormatError(ValueError):
    """A test file does not follow the go-ftw format; the message names file, test and fix."""


@dataclass(frozen=True, slots=True)
class FtwStage:
    """One request and what the WAF must (not) log for it.

    ``raw_request`` is set when the test gives the bytes on the wire; ``method``, ``uri``,
    ``version``, ``headers`` and ``body`` are then what the file declared beside it (often
    defaults). ``expect_status`` lists acceptable HTTP statuses (empty: any).
    ``log_patterns`` / ``no_log_patterns`` keep log expectations that do not name a rule id
    (``match_regex``, free-text ``log_contains``).
    """

    method: str
    uri: str
    version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    raw_request: bytes | None
    expect_ids: frozenset[int]
    no_expect_ids: frozenset[int]
    expect_status: tuple[int, ...]
    expect_error: bool
    log_patterns: tuple[str, ...] = ()
    no_log_patterns: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


@dataclass(frozen=True, slots=True)
class FtwTest:
    """One named test: a rule id, where it came from, and its stages in order."""

    title: str
    rule_id: int
    file: Path
    description: str
    stages: tuple[FtwStage, ...]
    test_id: int | None = None  # v4 ``test_id``; v3 titles end in ``-N`` which is used instead


@dataclass(frozen=True, slots=True)
class FtwOverride:
    """An overrides-file entry: for ``rule_id``'s tests ``test_ids``, expect this instead.

    Fields left ``None`` keep the test's own expectation."""

    rule_id: int
    test_ids: frozenset[int]
    reason: str
    expect_ids: frozenset[int] | None = None
    no_expect_ids: frozenset[int] | None = None
    expect_status: tuple[int, ...] | None = None
    expect_error: bool | None = None


def _fail(path: Path, test: str, problem: str, fix: str) -> FtwFormatError:
    where = f"{path}: test {test}" if test else str(path)
    return FtwFormatError(f"{where}: {problem}; {fix}")


def _ids(raw: object, path: Path, test: str, key: str) -> frozenset[int]:
    if raw is None:
        return frozenset()
    items = raw if isinstance(raw, list) else [raw]
    out: set[int] = set()
    for item in items:
        try:
            out.add(int(_text(item)))
        except (TypeError, ValueError):
            raise _fail(path, test, f"{key} holds {item!r}", "list rule ids as numbers") from None
    return frozenset(out)


def _statuses(raw: object, path: Path, test: str) -> tuple[int, ...]:
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    try:
        return tuple(int(_text(s)) for s in items)
    except (TypeError, ValueError):
        raise _fail(path, test, f"status {raw!r} is not a number", "give an HTTP status or a list") from None


def _text(raw: object) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def _render(text: str) -> str:
    """go-ftw's one template function the suites use: ``{{ "x" | repeat N }}``."""
    if "{{" not in text:
        return text
    return _REPEAT.sub(lambda m: m.group(1) * int(m.group(2)), text)


def _body(raw: object, path: Path, test: str) -> bytes:
    if raw is None:
        return b""
    if isinstance(raw, list):
        return _render("\r\n".join(_text(line) for line in raw)).encode("utf-8")
    if isinstance(raw, (str, int, float)):
        return _render(str(raw)).encode("utf-8")
    raise _fail(path, test, f"data is a {type(raw).__name__}", "give data as a string or a list of lines")


def _headers(raw: object, path: Path, test: str) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        return [(_text(k), _text(v)) for k, v in raw.items()]
    if isinstance(raw, list):  # go-ftw also accepts [{name: value}, ...]
        out: list[tuple[str, str]] = []
        for item in raw:
            if not isinstance(item, Mapping):
                raise _fail(path, test, f"header entry {item!r}", "write headers as a name: value mapping")
            out.extend((_text(k), _text(v)) for k, v in item.items())
        return out
    raise _fail(path, test, f"headers is a {type(raw).__name__}", "write headers as a name: value mapping")


def _autocomplete(headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
    names = {k.lower() for k, _ in headers}
    out = list(headers)
    if body and "content-type" not in names:
        out.append(("Content-Type", "application/x-www-form-urlencoded"))
    if body and "content-length" not in names:
        out.append(("Content-Length", str(len(body))))
    if "connection" not in names:
        out.append(("Connection", "close"))
    return out


def _log_expectations(
    output: Mapping[str, Any], path: Path, test: str
) -> tuple[frozenset[int], frozenset[int], tuple[str, ...], tuple[str, ...]]:
    expect: set[int] = set()
    forbid: set[int] = set()
    patterns: list[str] = []
    anti: list[str] = []
    for key, ids, texts in (("log_contains", expect, patterns), ("no_log_contains", forbid, anti)):
        raw = output.get(key)
        if raw is None:
            continue
        for item in raw if isinstance(raw, list) else [raw]:
            found = _LOG_ID.search(_text(item))
            if found is not None:
                ids.add(int(found.group(1)))
            elif _text(item).isdigit():
                ids.add(int(_text(item)))
            else:
                texts.append(_text(item))
    log = output.get("log")
    if log is not None:
        if not isinstance(log, Mapping):
            raise _fail(path, test, "output.log is not a mapping", "write log: {expect_ids: [...]}")
        expect |= _ids(log.get("expect_ids"), path, test, "expect_ids")
        forbid |= _ids(log.get("no_expect_ids"), path, test, "no_expect_ids")
        if log.get("match_regex") is not None:
            patterns.append(_text(log["match_regex"]))
        if log.get("no_match_regex") is not None:
            anti.append(_text(log["no_match_regex"]))
    for key, texts in (("match_regex", patterns), ("no_match_regex", anti)):
        if output.get(key) is not None:
            texts.append(_text(output[key]))
    return frozenset(expect), frozenset(forbid), tuple(patterns), tuple(anti)


def _raw_request(inp: Mapping[str, Any], path: Path, test: str) -> bytes | None:
    if inp.get("encoded_request") is not None:
        try:
            return base64.b64decode(_text(inp["encoded_request"]), validate=False)
        except (binascii.Error, ValueError):
            raise _fail(
                path, test, "encoded_request is not base64", "encode the raw request with base64"
            ) from None
    if inp.get("raw_request") is not None:
        return _text(inp["raw_request"]).encode("utf-8")
    return None


def _stage(raw: object, path: Path, test: str) -> FtwStage:
    if not isinstance(raw, Mapping):
        raise _fail(path, test, "a stage is not a mapping", "give each stage input: and output:")
    body = raw.get("stage", raw)  # v3 wraps each stage in "stage:"
    if not isinstance(body, Mapping):
        raise _fail(path, test, "stage: is not a mapping", "give the stage input: and output:")
    inp = body.get("input") or {}
    output = body.get("output") or {}
    if not isinstance(inp, Mapping) or not isinstance(output, Mapping):
        raise _fail(path, test, "input/output is not a mapping", "write input: and output: as mappings")
    data = _body(inp.get("data"), path, test)
    headers = _headers(inp.get("headers"), path, test)
    autocomplete = bool(inp.get("autocomplete_headers", True)) and not bool(inp.get("stop_magic", False))
    if autocomplete:
        headers = _autocomplete(headers, data)
    expect, forbid, patterns, anti = _log_expectations(output, path, test)
    version = _text(inp.get("version", "HTTP/1.1")) if inp.get("version") is not None else "HTTP/1.1"
    return FtwStage(
        method=_text(inp.get("method", "GET")) if inp.get("method") is not None else "GET",
        uri=_text(inp.get("uri", "/")) if inp.get("uri") is not None else "/",
        version=version,
        headers=tuple(headers),
        body=data,
        raw_request=_raw_request(inp, path, test),
        expect_ids=expect,
        no_expect_ids=forbid,
        expect_status=_statuses(output.get("status"), path, test),
        expect_error=bool(output.get("expect_error", False)),
        log_patterns=patterns,
        no_log_patterns=anti,
    )


def _rule_id(title: str, file_rule: object, path: Path) -> int:
    if file_rule is not None:
        try:
            return int(_text(file_rule))
        except ValueError:
            raise _fail(
                path, "", f"rule_id {file_rule!r} is not a number", "set rule_id to the rule's id"
            ) from None
    found = _TITLE_RULE.match(title) or _TITLE_RULE.match(path.stem)
    if found is None:
        raise _fail(path, title, "no rule id in the test title or file name", "name the test NNNNNN-N")
    return int(found.group(1))


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FtwFormatError(f"{path}: cannot read ({exc.strerror}); check the path") from None
    except UnicodeDecodeError as exc:
        raise FtwFormatError(f"{path}: not UTF-8 at byte {exc.start}; save the file as UTF-8") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise FtwFormatError(
            f"{path}:{line}: invalid YAML ({getattr(exc, 'problem', exc)}); fix the syntax"
        ) from None


def load_file(path: str | Path) -> tuple[FtwTest, ...]:
    """All tests of one go-ftw YAML file (either flavour); disabled files (``enabled: false``)
    yield nothing. Raises :class:`FtwFormatError` naming file, test and fix."""
    path = Path(path)
    doc = _read_yaml(path)
    if doc is None:  # only comments: a placeholder file, no tests
        return ()
    if not isinstance(doc, Mapping):
        raise _fail(path, "", "the file is not a mapping", "start it with meta: and tests:")
    meta = doc.get("meta") or {}
    if isinstance(meta, Mapping) and meta.get("enabled") is False:
        return ()
    raw_tests = doc.get("tests")
    if not isinstance(raw_tests, list):
        raise _fail(path, "", "tests: is missing or not a list", "list the tests under tests:")
    file_rule = doc.get("rule_id")
    tests: list[FtwTest] = []
    for index, raw in enumerate(raw_tests, 1):
        if not isinstance(raw, Mapping):
            raise _fail(path, f"#{index}", "a test is not a mapping", "give each test a title and stages")
        test_id: int | None = None
        if raw.get("test_id") is not None:
            try:
                test_id = int(raw["test_id"])
            except (TypeError, ValueError):
                raise _fail(path, f"#{index}", f"test_id {raw['test_id']!r}", "use a number") from None
        title = _text(raw.get("test_title")) or (
            f"{file_rule}-{test_id}"
            if file_rule is not None and test_id is not None
            else f"{path.stem}-{index}"
        )
        rule_id = _rule_id(title, file_rule, path)
        if test_id is None:
            tail = title.rsplit("-", 1)[-1]
            test_id = int(tail) if tail.isdigit() else index
        stages_raw = raw.get("stages")
        if not isinstance(stages_raw, list) or not stages_raw:
            raise _fail(path, title, "stages: is missing or empty", "give the test at least one stage")
        stages = tuple(_stage(s, path, title) for s in stages_raw)
        description = _text(raw.get("desc") or raw.get("description") or "")
        tests.append(FtwTest(title, rule_id, path, description.strip(), stages, test_id))
    return tuple(tests)


def load_dir(path: str | Path) -> tuple[FtwTest, ...]:
    """Every test under ``path`` (``*.yaml`` / ``*.yml``, recursively, in path order)."""
    root = Path(path)
    if not root.is_dir():
        raise FtwFormatError(f"{root}: not a folder; point at a go-ftw tests folder")
    files = sorted(p for p in root.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())
    return tuple(t for f in files for t in load_file(f))


def load_overrides(path: str | Path) -> tuple[FtwOverride, ...]:
    """The entries of a go-ftw overrides file (``test_overrides:``)."""
    path = Path(path)
    doc = _read_yaml(path)
    entries = doc.get("test_overrides") if isinstance(doc, Mapping) else None
    if not isinstance(entries, list):
        raise _fail(path, "", "test_overrides: is missing", "list the overrides under test_overrides:")
    out: list[FtwOverride] = []
    for index, raw in enumerate(entries, 1):
        name = f"override #{index}"
        if not isinstance(raw, Mapping) or raw.get("rule_id") is None:
            raise _fail(path, name, "no rule_id", "give each override a rule_id")
        rule_id = _rule_id("", raw["rule_id"], path)
        test_ids = _ids(raw.get("test_ids"), path, name, "test_ids")
        output = raw.get("output") or {}
        if not isinstance(output, Mapping):
            raise _fail(path, name, "output is not a mapping", "write output: {status: ..., log: ...}")
        log = output.get("log")
        log_map: Mapping[str, Any] = log if isinstance(log, Mapping) else {}
        out.append(
            FtwOverride(
                rule_id=rule_id,
                test_ids=test_ids,
                reason=_text(raw.get("reason")).strip(),
                expect_ids=_ids(log_map["expect_ids"], path, name, "expect_ids")
                if "expect_ids" in log_map
                else None,
                no_expect_ids=(
                    _ids(log_map["no_expect_ids"], path, name, "no_expect_ids")
                    if "no_expect_ids" in log_map
                    else None
                ),
                expect_status=_statuses(output["status"], path, name) if "status" in output else None,
                expect_error=bool(output["expect_error"]) if "expect_error" in output else None,
            )
        )
    return tuple(out)


def _override_stage(stage: FtwStage, o: FtwOverride) -> FtwStage:
    return replace(
        stage,
        expect_ids=stage.expect_ids if o.expect_ids is None else o.expect_ids,
        no_expect_ids=stage.no_expect_ids if o.no_expect_ids is None else o.no_expect_ids,
        expect_status=stage.expect_status if o.expect_status is None else o.expect_status,
        expect_error=stage.expect_error if o.expect_error is None else o.expect_error,
    )


def apply_overrides(tests: Iterable[FtwTest], overrides: Sequence[FtwOverride]) -> tuple[FtwTest, ...]:
    """``tests`` with each override's output applied to every stage of the tests it names
    (an override without ``test_ids`` applies to all tests of its rule)."""
    out: list[FtwTest] = []
    for original in tests:
        test = original
        for o in overrides:
            if o.rule_id == test.rule_id and (not o.test_ids or test.test_id in o.test_ids):
                test = replace(test, stages=tuple(_override_stage(s, o) for s in test.stages))
        out.append(test)
    return tuple(out)
