"""``rampart replay``, ``rampart report`` and ``rampart import``.

Kept light to import: the harness, the corpus and the report load inside the commands.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from rampart.attacks.cases import Case
    from rampart.attacks.replay.records import Record
    from rampart.attacks.replay.runner import ReplayResult

__all__ = [
    "add_corpus_options",
    "add_replay_options",
    "load_selected_cases",
    "make_console",
    "read_case_file",
    "register",
    "run_replay",
]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="replay the attack corpus through every layer configuration",
        description="Send every corpus case through the layer configurations, record each layer's "
        "verdict and the oracle's effects (records.jsonl, results.json in --out).",
    )
    add_corpus_options(p)
    add_replay_options(p)
    p.add_argument("--report", action="store_true", help="also write index.html and summary.md")
    p.set_defaults(func=_replay_cmd)

    r = sub.add_parser(
        "report",
        help="write the comparison report from replay records",
        description="Build index.html, summary.md and results.json from records.jsonl "
        "(and load.json when present) in --dir.",
    )
    r.add_argument("--dir", type=Path, default=Path("report"), help="replay output folder (default: report)")
    r.set_defaults(func=_report_cmd)

    i = sub.add_parser(
        "import",
        help="turn captured traffic or a public test suite into corpus cases",
        description="Import captured traffic (HAR, mitmproxy flows), a GoTestWAF test-case folder, go-ftw "
        "YAML (OWASP CRS regression tests) or a plain payload list as corpus cases (JSON lines), "
        "replayable with `rampart replay --cases FILE` or `rampart demo --suite PATH`.",
    )
    i.add_argument("path", type=Path, help="the capture, suite folder, go-ftw file or payload list")
    i.add_argument("--out", type=Path, default=None, help="write cases here (default: stdout)")
    i.add_argument(
        "--format",
        choices=("traffic", "gotestwaf", "ftw", "payloads", "cases"),
        default=None,
        help="the input format (default: detected from the path)",
    )
    i.add_argument("--class", dest="attack_class", default=None, help="attack class of a payload list")
    i.set_defaults(func=_import_cmd)


def add_corpus_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("corpus selection")
    g.add_argument("--cases", type=Path, default=None, help="replay these cases (JSON lines), not the corpus")
    g.add_argument(
        "--suite",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="also replay this imported suite beside the corpus: a GoTestWAF folder, go-ftw files (CRS "
        "regression tests), a payload list, a capture or cases (JSON lines); repeatable",
    )
    g.add_argument("--classes", default=None, help="comma-separated attack classes (default: all)")
    g.add_argument(
        "--limit-per-class", type=int, default=None, help="at most N attack (and N benign) cases per class"
    )
    g.add_argument("--benign-limit", type=int, default=None, help="at most N benign cases")
    g.add_argument("--no-benign", action="store_true", help="attack cases only")
    g.add_argument("--slice", type=int, default=None, metavar="N", help="an evenly spread subset of N cases")
    g.add_argument("--seed", type=int, default=0, help="seed for the corpus loader's sampling")


def add_replay_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("replay")
    g.add_argument(
        "--configs",
        default="all",
        help="none,waf,crs,rasp,waf+rasp,crs+rasp or all, plus peers: nginx+crs (Debian nginx + ModSecurity "
        "+ CRS, started here), asgi (the lab's ASGI twin, no product), aikido (the ASGI lab under "
        "Aikido Zen; the peers extra)",
    )
    g.add_argument("--out", type=Path, default=Path("report"), help="output folder (default: report)")
    g.add_argument("--concurrency", type=int, default=16, help="requests in flight (default: 16)")
    g.add_argument("--timeout", type=float, default=20.0, help="seconds per request (default: 20)")
    g.add_argument("--no-block", action="store_true", help="detect pass only, no block-mode confirmation")
    g.add_argument(
        "--targets",
        default=None,
        help="use running servers: lab=URL[,gateway=URL,block-lab=URL,waf=URL,crs=URL,"
        "waf+rasp=URL,crs+rasp=URL]; any other NAME=URL is a peer replayed as configuration NAME "
        "(verdict from its harness header, else its status code)",
    )
    g.add_argument("--paranoia", type=int, default=None, help="rule paranoia level 1-4 for every gateway")
    g.add_argument(
        "--gateway-arg", action="append", default=[], help="extra gateway argument (--gateway-arg=--flag)"
    )
    g.add_argument("--lab-arg", action="append", default=[], help="extra argument for every lab")


def _spread(cases: list[Case], n: int | None) -> list[Case]:
    from rampart.attacks.replay.runner import select_slice

    return select_slice(cases, n)


def read_case_file(path: Path) -> list[Case]:
    """Cases from a JSON-lines file (one ``Case.dump()`` per line)."""
    from pydantic import ValidationError

    from rampart.attacks.cases import Case
    from rampart.jsonl import read_lines

    cases: list[Case] = []
    for line in read_lines(path):
        try:
            cases.append(Case.model_validate_json(line))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(map(str, err["loc"]))
            raise ValueError(f"{path}:{line.lineno}: {where}: {err['msg']}") from None
    return cases


def load_selected_cases(args: argparse.Namespace) -> list[Case]:
    """The cases the options select, in a deterministic order."""
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    if args.cases is not None:
        cases = read_case_file(args.cases)
        if classes:
            cases = [c for c in cases if c.label == "benign" or c.attack_class in classes]
    else:
        from rampart.attacks.corpus import load_cases

        cases = load_cases(
            include_benign=not args.no_benign,
            classes=classes,
            limit_per_class=args.limit_per_class,
            seed=args.seed,
        )
    if args.no_benign:
        cases = [c for c in cases if c.label != "benign"]
    if args.benign_limit is not None:
        attacks = [c for c in cases if c.label == "attack"]
        cases = attacks + _spread([c for c in cases if c.label == "benign"], args.benign_limit)
    for path in getattr(args, "suite", None) or []:
        cases += load_suite(path, args, classes)
    return _spread(cases, args.slice)


def load_suite(path: Path, args: argparse.Namespace, classes: list[str] | None) -> list[Case]:
    """An imported suite's cases under the same selection options, sampled per source and class."""
    from collections import defaultdict

    from rampart.attacks.importers import import_any

    result = import_any(path)
    picked = [c for c in result.cases if not args.no_benign or c.label != "benign"]
    if classes:
        picked = [c for c in picked if c.label == "benign" or c.attack_class in classes]
    if args.limit_per_class is not None:
        groups: dict[tuple[str, str, str], list[Case]] = defaultdict(list)
        for c in picked:
            groups[(c.source, c.label, c.attack_class or "")].append(c)
        keep = {c.id for group in groups.values() for c in _spread(group, args.limit_per_class)}
        picked = [c for c in picked if c.id in keep]
    if args.benign_limit is not None:
        by_source: dict[str, list[Case]] = defaultdict(list)
        for c in picked:
            if c.label == "benign":
                by_source[c.source].append(c)
        keep = {c.id for group in by_source.values() for c in _spread(group, args.benign_limit)}
        picked = [c for c in picked if c.label == "attack" or c.id in keep]
    return picked


def corpus_stats_for(cases: list[Case]) -> dict[str, Any]:
    from collections import Counter

    from rampart.attacks.corpus import corpus_stats

    stats = dict(corpus_stats(cases))
    stats["sources"] = dict(sorted(Counter(c.source for c in cases).items()))
    flag_only = sum(c.label == "attack" and not c.graded for c in cases)
    if flag_only:
        stats["flag_only"] = flag_only
    return stats


@contextmanager
def progress_hooks(console: Console) -> Iterator[Callable[[str, int], Callable[[Record], None]]]:
    """A rich progress bar per pass; yields the hook the runner calls to open one.

    Without a terminal (CI logs, ``./demo.sh > log``) rich draws nothing until the end, so
    a plain line is printed at every tenth of a pass instead."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[worked]} working, {task.fields[flagged]} flagged"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:

        def open_pass(name: str, total: int) -> Callable[[Record], None]:
            task = progress.add_task(name, total=total, worked=0, flagged=0)
            counts = {"worked": 0, "flagged": 0, "sent": 0, "tenth": 0}

            def done(rec: Record) -> None:
                counts["worked"] += rec.delivered
                counts["flagged"] += any(v.flagged for v in rec.verdicts.values())
                counts["sent"] += 1
                progress.update(task, advance=1, worked=counts["worked"], flagged=counts["flagged"])
                tenth = counts["sent"] * 10 // max(total, 1)
                if not console.is_terminal and tenth > counts["tenth"]:
                    counts["tenth"] = tenth
                    console.print(
                        f"{name}: {counts['sent']}/{total} sent, {counts['worked']} working, "
                        f"{counts['flagged']} flagged",
                        highlight=False,
                    )

            return done

        yield open_pass


def run_replay(args: argparse.Namespace, console: Console) -> ReplayResult:
    """Select cases, run the replay with progress bars; raises ``ValueError`` on bad options."""
    from rampart.attacks.replay.configs import parse_configs
    from rampart.attacks.replay.peers import BUILTIN_PEERS, Peer
    from rampart.attacks.replay.runner import ReplayOptions, parse_targets, replay

    wanted = [n.strip() for n in (args.configs or "all").split(",") if n.strip()]
    builtin_peers = [n for n in wanted if n in BUILTIN_PEERS]
    rest = [n for n in wanted if n not in BUILTIN_PEERS]
    configs = parse_configs(",".join(rest)) if rest else ([] if builtin_peers else parse_configs("all"))
    targets = parse_targets(args.targets) if args.targets else None
    peers = [Peer(n, BUILTIN_PEERS[n]) for n in builtin_peers]
    if targets is not None:
        peers += [Peer(n, f"{n} at {url}", url) for n, url in targets.peers.items()]
    cases = load_selected_cases(args)
    if not cases:
        raise ValueError("no cases selected; loosen --classes/--slice/--limit-per-class")
    stats = corpus_stats_for(cases)
    console.print(
        f"replaying {stats['attack']} attack and {stats['benign']} benign cases "
        f"({len(stats['classes'])} classes) through "
        + ", ".join([c.name for c in configs] + [p.name for p in peers])
    )
    options = ReplayOptions(
        configs=tuple(c.name for c in configs),
        out_dir=args.out,
        concurrency=max(1, args.concurrency),
        timeout=args.timeout,
        block=not args.no_block,
        targets=targets,
        gateway_args=(*(("--paranoia", str(args.paranoia)) if args.paranoia else ()), *args.gateway_arg),
        lab_args=tuple(args.lab_arg),
        seed=args.seed,
        peers=tuple(peers),
    )
    with progress_hooks(console) as hooks:
        return asyncio.run(replay(cases, options, corpus=stats, progress=hooks, say=console.print))


def make_console() -> Console:
    """A rich console; 120 columns when not a terminal so tables stay on one line in logs."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 120)


def _replay_cmd(args: argparse.Namespace) -> int:
    from rampart.attacks.report import print_headline, write_report

    console = make_console()
    try:
        result = run_replay(args, console)
    except (ValueError, FileNotFoundError, RuntimeError, TimeoutError) as exc:
        console.print(f"[red]rampart replay: {exc}[/red]")
        return 2
    print_headline(console, result.results)
    if args.report:
        paths = write_report(args.out)
        console.print("report: " + ", ".join(str(p) for p in paths))
    else:
        console.print(f"records and results in {args.out}/ (run `rampart report --dir {args.out}` for HTML)")
    return 0


def _report_cmd(args: argparse.Namespace) -> int:
    from rampart.attacks.report import print_headline, write_report

    console = make_console()
    try:
        paths = write_report(args.dir)
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"[red]rampart report: {exc}[/red]")
        return 2
    results = json.loads((args.dir / "results.json").read_text(encoding="utf-8"))
    print_headline(console, results)
    console.print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _import_cmd(args: argparse.Namespace) -> int:
    from rampart.attacks.importers import import_any, write_jsonl
    from rampart.jsonl import dumps_line

    try:
        result = import_any(args.path, args.format, attack_class=args.attack_class)
    except (ValueError, FileNotFoundError) as exc:
        print(f"rampart import: {exc}", file=sys.stderr)
        return 2
    for line in result.skipped:
        print(f"skipped {line}", file=sys.stderr)
    for line in result.flagged:
        print(f"flagged, not imported {line}", file=sys.stderr)
    if args.out is None:
        sys.stdout.write("".join(dumps_line(c.dump()) + "\n" for c in result.cases))
    else:
        write_jsonl(result.cases, args.out)
    sources = sorted({c.source for c in result.cases})
    print(
        f"{len(result.cases)} cases ({', '.join(sources) or 'no source'}), {len(result.skipped)} skipped, "
        f"{len(result.flagged)} flagged" + (f"; written to {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    return 0
