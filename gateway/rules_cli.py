"""``rampart rules test [PATH ...]``: check rule files before a gateway loads them.

- A YAML rule file (``*.yaml``, the native engine's form) is loaded and validated, then every
  rule's own examples run through a real native engine holding the given files' rules (paranoia
  4, so every rule is active; no time budget): an attack example must make that rule fire, a
  benign example must not, and a rule needs at least one of each. One line per rule.
- A YAML exclusions file (top-level ``exclusions:``) is validated.
- A SecLang file (``*.conf``: custom rules or exclusions for the seclang and crs engines) is
  parsed and its operators compiled; an error names the file and line.
- ``--ftw DIR`` also replays a go-ftw test folder through the ``seclang`` engine (CRS from
  ``--crs`` with the given ``.conf`` files loaded where exclusions go) and prints each test.

A folder stands for its ``*.yaml`` and ``*.conf`` files. With no path, the shipped rules are
tested. Exit status: 0 when everything passes, 1 when anything fails, 2 for a bad invocation.
Kept light to import: the engines are imported inside :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rampart.gateway.engines.native.ruleset import LoadedRule

__all__ = ["RuleCheck", "check_paths", "register", "run"]


_TEST_HELP = """\
YAML rule files: each rule's attack examples must fire it, its benign examples must not
  (a real native engine, paranoia 4 by default); one PASS/FAIL line per rule.
YAML exclusion files and SecLang files (*.conf): loaded; an error names file and line.
--ftw DIR: also replay a go-ftw test folder through the seclang engine (CRS from --crs,
  the given *.conf files loaded where exclusions go).
Exit status 0 when everything passes, 1 otherwise."""


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "rules",
        help="test rule and exclusion files (their own examples, SecLang parse errors)",
        description="Work with rule files. See docs/RULES.md.",
    )
    sub = p.add_subparsers(dest="rules_command", metavar="ACTION")
    t: argparse.ArgumentParser = sub.add_parser(
        "test",
        help="run each YAML rule's attack/benign examples; load SecLang files and report errors",
        description=_TEST_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="rule files (*.yaml, *.conf), exclusion files or folders (default: the shipped rules)",
    )
    t.add_argument(
        "--paranoia",
        type=int,
        choices=(1, 2, 3, 4),
        default=4,
        help="paranoia level of the engine the examples run in; rules above it are skipped "
        "(default: 4, every rule active)",
    )
    t.add_argument(
        "--ftw",
        metavar="DIR",
        help="a go-ftw test folder to replay through the seclang engine (default: none)",
    )
    t.add_argument(
        "--crs",
        dest="crs_dir",
        metavar="DIR",
        help="CRS folder the --ftw run loads (default: /usr/share/modsecurity-crs)",
    )
    t.add_argument(
        "--crs-setup",
        dest="crs_setup",
        metavar="FILE",
        help="crs-setup.conf for the --ftw run (default: found beside the CRS folder)",
    )
    t.add_argument(
        "-q", "--quiet", action="store_true", help="print failures and the summary only (default: off)"
    )
    t.set_defaults(func=run)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


@dataclass
class RuleCheck:
    """One line of the report: a rule, a file or an ftw test, passed or not."""

    what: str
    passed: bool
    problems: list[str] = field(default_factory=list)
    skipped: bool = False

    def line(self) -> str:
        head = f"{'SKIP' if self.skipped else 'PASS' if self.passed else 'FAIL'} {self.what}"
        return head if not self.problems else head + ": " + "; ".join(self.problems)


def _expand(paths: Sequence[str]) -> tuple[list[Path], list[RuleCheck]]:
    files: list[Path] = []
    errors: list[RuleCheck] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".conf"))
            if not found:
                errors.append(RuleCheck(f"{path}", False, ["no *.yaml or *.conf files in this folder"]))
            files += found
        elif path.is_file():
            files.append(path)
        else:
            errors.append(RuleCheck(f"{path}", False, ["no such file or folder"]))
    return files, errors


def _is_exclusions(path: Path) -> bool:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "exclusions" in data and "rules" not in data


def _short(example: object, limit: int = 60) -> str:
    text = repr(example)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _test_examples(rules: Sequence[LoadedRule], paranoia: int) -> list[RuleCheck]:
    from rampart.gateway.engines.native.engine import NativeEngine
    from rampart.gateway.engines.native.ruleset import RuleLoadError, example_request
    from rampart.gateway.model import EngineSettings

    engine = NativeEngine(EngineSettings(paranoia=paranoia, threshold=10**9, budget_ms=0), rules=rules)
    checks: list[RuleCheck] = []
    try:
        for rule in rules:
            spec = rule.spec
            what = f"{spec.id} {spec.message} ({rule.source}:{rule.line})"
            if spec.paranoia > paranoia:
                note = f"paranoia {spec.paranoia} is above --paranoia {paranoia}"
                checks.append(RuleCheck(what, True, [note], skipped=True))
                continue
            problems: list[str] = []
            if not spec.examples.attack:
                problems.append("no attack example (add examples.attack)")
            if not spec.examples.benign:
                problems.append("no benign example (add examples.benign)")
            for attack, examples in ((True, spec.examples.attack), (False, spec.examples.benign)):
                kind = "attack" if attack else "benign"
                for index, example in enumerate(examples):
                    try:
                        verdict = engine.inspect(example_request(spec, example))
                    except RuleLoadError as exc:
                        problems.append(f"{kind} example {index + 1}: {exc}")
                        continue
                    if verdict.error is not None:
                        problems.append(f"{kind} example {index + 1}: engine error {verdict.error}")
                    elif (str(spec.id) in verdict.rule_ids) is not attack:
                        verb = "missed" if attack else "fired on"
                        problems.append(f"{verb} {kind} example {index + 1} {_short(example)}")
            counts = f"{len(spec.examples.attack)} attack, {len(spec.examples.benign)} benign"
            checks.append(RuleCheck(f"{what} [{counts}]", not problems, problems))
    finally:
        engine.close()
    return checks


def _check_seclang(path: Path) -> RuleCheck:
    from rampart.gateway.engines.native.seclang.executor import compile_ruleset
    from rampart.gateway.engines.native.seclang.lexer import SecLangSyntaxError
    from rampart.gateway.engines.native.seclang.loader import Loader

    loader = Loader()
    try:
        loader.load_file(path)
        ruleset = loader.finish()
        compile_ruleset(ruleset, strict=True, fast=False)
    except (SecLangSyntaxError, ValueError) as exc:
        return RuleCheck(f"{path}", False, [f"{exc}"])
    rules = len(ruleset.rules())
    removals = len(loader.removed_ids) + len(loader.removed_tags) + len(loader.removed_msgs)
    updates = len(loader.target_updates) + len(loader.action_updates)
    summary = f"SecLang loads: {rules} rules, {removals} removals, {updates} target/action updates"
    return RuleCheck(f"{path}", True, [summary])


def check_paths(paths: Sequence[str], *, paranoia: int = 4) -> list[RuleCheck]:
    """Every check for ``paths`` (none: the shipped rules), in file order."""
    from rampart.gateway.engines.native.exclusions import ExclusionError, load_exclusions
    from rampart.gateway.engines.native.ruleset import DEFAULT_RULES_DIR, RuleLoadError, load_rule_file

    files, checks = _expand(paths or [str(DEFAULT_RULES_DIR)])
    rules: list[LoadedRule] = []
    seen: dict[int, LoadedRule] = {}
    for path in files:
        if path.suffix == ".conf":
            checks.append(_check_seclang(path))
            continue
        if _is_exclusions(path):
            try:
                count = len(load_exclusions(path).entries)
            except ExclusionError as exc:
                checks.append(RuleCheck(f"{path}", False, [str(exc)]))
            else:
                checks.append(RuleCheck(f"{path}", True, [f"YAML exclusions load: {count} entries"]))
            continue
        try:
            loaded = load_rule_file(path)
        except RuleLoadError as exc:
            checks.append(RuleCheck(f"{path}", False, [str(exc)]))
            continue
        for rule in loaded:
            first = seen.get(rule.spec.id)
            if first is not None:
                checks.append(
                    RuleCheck(
                        f"{rule.source}:{rule.line}",
                        False,
                        [f"rule {rule.spec.id}: duplicate id, already used at {first.source}:{first.line}"],
                    )
                )
                continue
            seen[rule.spec.id] = rule
            rules.append(rule)
    if rules:
        checks += _test_examples(rules, paranoia)
    return checks


def _run_ftw(args: argparse.Namespace, conf_files: Sequence[Path]) -> list[RuleCheck]:
    from rampart.attacks.ftw import FtwFormatError, load_dir
    from rampart.attacks.ftw.runner import replay
    from rampart.gateway.engines.native.seclang.engine import SecLangEngine
    from rampart.gateway.model import EngineSettings

    try:
        tests = load_dir(args.ftw)
    except (FtwFormatError, OSError) as exc:
        return [RuleCheck(f"{args.ftw}", False, [str(exc)])]
    settings = EngineSettings(
        paranoia=args.paranoia,
        crs_dir=args.crs_dir,
        crs_setup=args.crs_setup,
        exclusions=tuple(str(p) for p in conf_files),
    )
    try:
        engine = SecLangEngine(settings)
    except ValueError as exc:
        return [RuleCheck("seclang engine for --ftw", False, [str(exc)])]
    try:
        results = replay(engine, tests)
    finally:
        engine.close()
    checks = []
    for result in results:
        problems = []
        if result.missing:
            problems.append(f"expected rules did not fire: {', '.join(map(str, result.missing))}")
        if result.unexpected:
            problems.append(f"rules fired that must not: {', '.join(map(str, result.unexpected))}")
        if result.error:
            problems.append(result.error)
        if not result.passed and not problems:
            problems.append(f"cannot be judged on requests ({result.kind})")
        checks.append(RuleCheck(f"ftw {result.title}", result.passed, problems))
    return checks


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    stream = out if out is not None else sys.stdout
    checks = check_paths(args.paths, paranoia=args.paranoia)
    if args.ftw is not None:
        files, _ = _expand(args.paths)
        checks += _run_ftw(args, [p for p in files if p.suffix == ".conf"])
    failed = [c for c in checks if not c.passed]
    skipped = [c for c in checks if c.skipped]
    for check in checks:
        if not args.quiet or not check.passed:
            print(check.line(), file=stream)
    summary = f"rampart rules test: {len(checks) - len(failed) - len(skipped)} passed, {len(failed)} failed"
    print(summary + (f", {len(skipped)} skipped" if skipped else ""), file=stream)
    return 1 if failed else 0
