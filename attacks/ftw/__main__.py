"""The go-ftw runner from the command line:
``python -m rampart.attacks.ftw --engine crs|seclang --crs-version 3.3.4|4.28.0 [--paranoia N] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rampart.attacks.ftw.runner import (
    CRS_VERSIONS,
    agreement,
    format_report,
    load_tests,
    run,
    stderr_progress,
)


def main(argv: list[str] | None = None) -> int:
    """Run the regression suite and print per-family pass rates."""
    parser = argparse.ArgumentParser(prog="python -m rampart.attacks.ftw", description=__doc__)
    parser.add_argument("--engine", choices=("crs", "seclang"), required=True)
    parser.add_argument("--crs-version", choices=tuple(CRS_VERSIONS), default="3.3.4")
    parser.add_argument("--paranoia", type=int, choices=(1, 2, 3, 4), default=4)
    parser.add_argument("--rule", default="", help="only tests whose rule id starts with this")
    parser.add_argument("--json", type=Path, help="write the full report (failures included) here")
    parser.add_argument(
        "--reference", type=Path, help="a --json report (e.g. of crs) to compare pass sets with"
    )
    args = parser.parse_args(argv)
    tests = tuple(
        t for t in load_tests(CRS_VERSIONS[args.crs_version]) if str(t.rule_id).startswith(args.rule)
    )
    stages = sum(len(t.stages) for t in tests)
    report = run(
        args.engine, args.crs_version, paranoia=args.paranoia, tests=tests, progress=stderr_progress(stages)
    )
    print(format_report(report))
    if args.reference is not None:
        reference = frozenset(json.loads(args.reference.read_text(encoding="utf-8"))["passed"])
        same, total = agreement(report, reference)
        print(f"passes {same}/{total} ({100 * same / max(total, 1):.1f}%) of the stages the reference passes")
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
