"""Replay OWASP CRS's regression tests through an inspection engine, in process.

Each stage becomes one :class:`~rampart.gateway.model.RawRequest` (a raw request is parsed into
method, target, headers and body) and goes to the engine's ``fired_rule_ids``: every rule
that logged, which is what go-ftw reads from the WAF's log. A stage **passes** when every
expected id fired and no forbidden id did. Stages are classified:

- ``attack`` - expects at least one rule to fire;
- ``benign`` - only forbids rules from firing;
- ``server`` - expects an error or a status from the web server itself (a 400 for a request
  line it cannot parse, ``expect_error``) and names no rule: the in-process engine has no
  server, so these are counted apart and never scored;
- ``response`` - tests of ``RESPONSE-*`` rules, which need a response; skipped.

The engine runs CRS the way CRS's own test setup does: paranoia level 4 and the test
variables of CRS's regression setup (``tx.arg_name_length=100`` and friends,
:data:`TEST_SETUP`), appended to a copy of the setup file.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from rampart.attacks.ftw.reader import FtwStage, FtwTest, apply_overrides, load_dir, load_overrides
from rampart.gateway.model import EngineSettings, RawRequest

__all__ = [
    "CRS_VERSIONS",
    "TEST_SETUP",
    "CrsVersion",
    "FamilyStats",
    "FiringEngine",
    "RunReport",
    "StageResult",
    "classify",
    "family_of",
    "run",
    "shared_crs",
    "stage_request",
    "test_settings",
]

Kind = Literal["attack", "benign", "server", "response"]

SHARED_ENV = "RAMPART_SHARED_CRS"


def shared_crs() -> Path:
    """The folder with CRS's regression tests (``v3.3.4/``, ``v4.28.0/``) and CRS 4.28.0's
    rules: ``$RAMPART_SHARED_CRS``, else the first ``shared/crs`` found beside the repository
    or beside one of its parents (a CI clone has ``../shared``; a worktree may sit deeper)."""
    explicit = os.environ.get(SHARED_ENV)
    if explicit:
        return Path(explicit)
    root = Path(__file__).resolve().parents[2]
    for folder in (root, *root.parents):
        candidate = folder.parent / "shared" / "crs"
        if candidate.is_dir():
            return candidate
    return root.parent / "shared" / "crs"


SHARED = shared_crs()

# CRS's regression setup (its test compose file sets these through the container's
# environment): everything at paranoia 4, UTF-8 validation on, small argument limits.
TEST_SETUP = """
SecAction "id:900005,phase:1,nolog,pass,t:none,\\
    setvar:tx.paranoia_level=4,setvar:tx.blocking_paranoia_level=4,\\
    setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,\\
    setvar:tx.arg_length=400,setvar:tx.total_arg_length=64000,setvar:tx.max_num_args=255,\\
    setvar:tx.max_file_size=64100,setvar:tx.combined_file_sizes=65535"
"""


@dataclass(frozen=True, slots=True)
class CrsVersion:
    """Where one CRS version's rules, setup and regression tests live."""

    name: str
    crs_dir: Path
    setup: Path | None
    tests: Path
    overrides: Path | None = None


CRS_VERSIONS: dict[str, CrsVersion] = {
    "3.3.4": CrsVersion(
        "3.3.4",
        Path("/usr/share/modsecurity-crs"),
        Path("/etc/modsecurity/crs/crs-setup.conf"),
        SHARED / "v3.3.4/tests/regression/tests",
    ),
    "4.28.0": CrsVersion(
        "4.28.0",
        SHARED / "v4.28.0",
        SHARED / "v4.28.0/crs-setup.conf.example",
        SHARED / "v4.28.0/tests/regression/tests",
        SHARED / "v4.28.0/tests/regression/nginx-overrides.yaml",
    ),
}


class FiringEngine(Protocol):
    """An engine that reports every rule that logged for a request."""

    def fired_rule_ids(self, request: RawRequest) -> frozenset[int]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class StageResult:
    """One stage replayed: what was expected, what fired, and whether that passes."""

    title: str
    family: str
    kind: Kind
    passed: bool
    missing: tuple[int, ...] = ()
    unexpected: tuple[int, ...] = ()
    error: str | None = None


@dataclass(slots=True)
class FamilyStats:
    """Pass counts of one rule family (the first three digits of the rule id)."""

    attack_passed: int = 0
    attack_total: int = 0
    benign_passed: int = 0
    benign_total: int = 0
    server: int = 0
    response: int = 0

    def add(self, result: StageResult) -> None:
        if result.kind == "attack":
            self.attack_total += 1
            self.attack_passed += result.passed
        elif result.kind == "benign":
            self.benign_total += 1
            self.benign_passed += result.passed
        elif result.kind == "server":
            self.server += 1
        else:
            self.response += 1

    @property
    def passed(self) -> int:
        return self.attack_passed + self.benign_passed

    @property
    def total(self) -> int:
        return self.attack_total + self.benign_total


@dataclass(slots=True)
class RunReport:
    """Everything one run measured."""

    engine: str
    crs_version: str
    paranoia: int
    results: list[StageResult] = field(default_factory=list)
    seconds: float = 0.0

    def families(self) -> dict[str, FamilyStats]:
        out: dict[str, FamilyStats] = {}
        for r in self.results:
            out.setdefault(r.family, FamilyStats()).add(r)
        return dict(sorted(out.items()))

    def overall(self) -> FamilyStats:
        total = FamilyStats()
        for r in self.results:
            total.add(r)
        return total

    def passed_titles(self) -> frozenset[str]:
        return frozenset(r.title for r in self.results if r.passed and r.kind in ("attack", "benign"))

    def to_json(self) -> dict[str, object]:
        def stats(s: FamilyStats) -> dict[str, int]:
            return {
                "attack_passed": s.attack_passed,
                "attack_total": s.attack_total,
                "benign_passed": s.benign_passed,
                "benign_total": s.benign_total,
                "server_level": s.server,
                "response_skipped": s.response,
            }

        return {
            "engine": self.engine,
            "crs_version": self.crs_version,
            "paranoia": self.paranoia,
            "seconds": round(self.seconds, 2),
            "overall": stats(self.overall()),
            "families": {k: stats(v) for k, v in self.families().items()},
            "failures": [
                {
                    "title": r.title,
                    "kind": r.kind,
                    "missing": list(r.missing),
                    "unexpected": list(r.unexpected),
                    "error": r.error,
                }
                for r in self.results
                if not r.passed and r.kind in ("attack", "benign")
            ],
            "passed": sorted(self.passed_titles()),
        }


def family_of(test: FtwTest) -> str:
    """``"942"`` for rule 942100."""
    return str(test.rule_id)[:3]


def classify(test: FtwTest, stage: FtwStage) -> Kind:
    """Which kind of stage this is (see the module docstring)."""
    if test.file.parent.name.startswith("RESPONSE-"):
        return "response"
    if stage.expect_ids:
        return "attack"
    if stage.no_expect_ids and not stage.expect_error:
        return "benign"
    return "server"


_REQUEST_LINE = re.compile(rb"^(\S+)[ \t]+(\S+)(?:[ \t]+(\S+))?[ \t]*$")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _parse_raw(raw: bytes) -> RawRequest:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    found = _REQUEST_LINE.match(lines[0])
    if found is None:
        raise ValueError(f"unparsable request line {lines[0][:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            raise ValueError(f"header line without a colon {line[:80]!r}")
        headers.append((_text(name.strip()), _text(value.strip())))
    version = _text(found.group(3) or b"HTTP/1.1").upper().removeprefix("HTTP/")
    return RawRequest(_text(found.group(1)), _text(found.group(2)), tuple(headers), body, version)


def stage_request(stage: FtwStage, request_id: str = "") -> RawRequest:
    """The request ``stage`` sends, as the proxy would hand it to an engine."""
    if stage.raw_request is not None:
        parsed = _parse_raw(stage.raw_request)
        return RawRequest(
            parsed.method,
            parsed.target,
            parsed.headers,
            parsed.body,
            parsed.http_version,
            request_id=request_id,
        )
    version = stage.version.upper().removeprefix("HTTP/") or "1.1"
    return RawRequest(stage.method, stage.uri, stage.headers, stage.body, version, request_id=request_id)


def _judge(test: FtwTest, stage: FtwStage, kind: Kind, fired: frozenset[int]) -> StageResult:
    missing = tuple(sorted(stage.expect_ids - fired))
    unexpected = tuple(sorted(stage.no_expect_ids & fired))
    return StageResult(test.title, family_of(test), kind, not missing and not unexpected, missing, unexpected)


def replay(
    engine: FiringEngine, tests: Iterable[FtwTest], progress: Callable[[int], None] | None = None
) -> list[StageResult]:
    """Every stage of ``tests`` through ``engine``; an engine error fails that stage."""
    out: list[StageResult] = []
    for test in tests:
        for index, stage in enumerate(test.stages):
            kind = classify(test, stage)
            if kind in ("server", "response"):
                out.append(StageResult(test.title, family_of(test), kind, False))
                continue
            try:
                request = stage_request(stage, f"{test.title}.{index}")
                fired = engine.fired_rule_ids(request)
            except Exception as exc:  # one broken stage must not end the run
                out.append(
                    StageResult(
                        test.title, family_of(test), kind, False, error=f"{type(exc).__name__}: {exc}"
                    )
                )
                continue
            out.append(_judge(test, stage, kind, fired))
        if progress is not None:
            progress(len(out))
    return out


@contextmanager
def test_settings(version: CrsVersion, paranoia: int) -> Iterator[EngineSettings]:
    """Engine settings for ``version`` with CRS's regression setup appended to a copy of the
    setup file (in a temporary folder, beside a copy of the before-CRS exclusions file)."""
    if version.setup is None or not version.setup.is_file():
        raise FileNotFoundError(f"CRS {version.name}: setup file {version.setup} is missing")
    with tempfile.TemporaryDirectory(prefix="rampart-ftw-") as folder:
        setup = Path(folder) / "crs-setup.conf"
        setup.write_text(version.setup.read_text(encoding="utf-8") + "\n" + TEST_SETUP, encoding="utf-8")
        before = version.setup.parent / "REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf"
        if before.is_file():
            shutil.copy(before, Path(folder) / before.name)
        yield EngineSettings(paranoia=paranoia, crs_dir=str(version.crs_dir), crs_setup=str(setup))


def load_tests(version: CrsVersion, *, overrides: bool = True) -> tuple[FtwTest, ...]:
    """The version's regression tests, with its nginx (libmodsecurity) overrides applied."""
    tests = load_dir(version.tests)
    if overrides and version.overrides is not None and version.overrides.is_file():
        tests = apply_overrides(tests, load_overrides(version.overrides))
    return tests


def make_engine(name: str, settings: EngineSettings) -> FiringEngine:
    """The ``crs`` (libmodsecurity) or ``seclang`` (native SecLang) engine."""
    if name == "crs":
        from rampart.gateway.engines.crs.engine import CrsEngine

        return CrsEngine(settings, processes=0)
    if name == "seclang":
        from rampart.gateway.engines.native.seclang.engine import SecLangEngine

        return SecLangEngine(settings)
    raise ValueError(f"unknown engine {name!r}; choose crs or seclang")


def run(
    engine_name: str,
    crs_version: str,
    *,
    paranoia: int = 4,
    tests: Iterable[FtwTest] | None = None,
    progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Replay ``crs_version``'s regression tests (or ``tests``) through ``engine_name``."""
    try:
        version = CRS_VERSIONS[crs_version]
    except KeyError:
        raise ValueError(f"unknown CRS version {crs_version!r}; choose {', '.join(CRS_VERSIONS)}") from None
    chosen = tuple(tests) if tests is not None else load_tests(version)
    start = time.perf_counter()
    with test_settings(version, paranoia) as settings:
        engine = make_engine(engine_name, settings)
        try:
            results = replay(engine, chosen, progress)
        finally:
            engine.close()
    return RunReport(engine_name, crs_version, paranoia, results, time.perf_counter() - start)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def format_report(report: RunReport) -> str:
    """A per-family table of pass rates."""
    lines = [
        f"engine {report.engine}, CRS {report.crs_version}, paranoia {report.paranoia}, "
        f"{report.seconds:.1f} s",
        f"{'family':<8}{'attack':>16}{'benign':>16}{'all':>16}{'server':>8}",
    ]
    overall = report.overall()
    rows = [(k, v) for k, v in report.families().items() if v.total or v.server] + [("overall", overall)]
    for name, s in rows:
        lines.append(
            f"{name:<8}"
            f"{s.attack_passed:>5}/{s.attack_total:<4}{_pct(s.attack_passed, s.attack_total)}"
            f"{s.benign_passed:>5}/{s.benign_total:<4}{_pct(s.benign_passed, s.benign_total)}"
            f"{s.passed:>5}/{s.total:<4}{_pct(s.passed, s.total)}"
            f"{s.server:>8}"
        )
    if overall.response:
        lines.append(f"({overall.response} RESPONSE-* stages skipped: only requests are inspected)")
    return "\n".join(lines)


def agreement(report: RunReport, reference: frozenset[str]) -> tuple[int, int]:
    """How many of the stages ``reference`` passed this run passes too, of how many."""
    mine = report.passed_titles()
    return len(mine & reference), len(reference)


def stderr_progress(total: int) -> Callable[[int], None]:
    """A progress callback printing every 500 stages to stderr."""
    state = {"next": 500}

    def report(done: int) -> None:
        if done >= state["next"] or done == total:
            print(f"  {done}/{total} stages", file=sys.stderr, flush=True)
            state["next"] = done + 500

    return report
