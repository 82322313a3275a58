"""``rampart demo``: the whole comparison in one command, on embedded defaults.

Starts the lab, the gateway engines and the sink guard; replays the corpus (and every
``--suite PATH`` imported beside it) through every configuration (detect pass, then block
passes) and the ``nginx+crs`` and ``aikido`` peers when they are installed; runs a short load
comparison when the load runner is installed; writes ``report/index.html``, ``report/summary.md`` and
``report/results.json``; prints the headline table. Every process it starts is stopped,
Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["register"]

QUICK_PER_CLASS = 8
QUICK_BENIGN = 60


def register(sub: Any) -> None:
    from rampart.attacks.cli import add_corpus_options, add_replay_options

    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="run the whole comparison (replay, load, report) on embedded defaults",
        description="Start the lab, gateways and sink guard, replay the corpus through every layer "
        "configuration, run a short load comparison, and write report/index.html, summary.md and "
        "results.json.",
    )
    add_corpus_options(p)
    add_replay_options(p)
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a corpus subset: {QUICK_PER_CLASS} attacks per class, {QUICK_BENIGN} benign",
    )
    p.add_argument("--no-load", action="store_true", help="skip the load comparison")
    p.add_argument(
        "--no-peers",
        action="store_true",
        help="leave out the nginx+crs and aikido peers (run by default when nginx, its ModSecurity "
        "module and CRS, or aikido_zen, are installed)",
    )
    p.add_argument("--load-duration", type=float, default=5.0, help="seconds of load per configuration")
    p.add_argument("--load-users", type=int, default=16, help="concurrent load users")
    p.set_defaults(func=_demo)


def _load(args: argparse.Namespace, console: Console, configs: list[str]) -> str | None:
    """Run the load comparison into ``<out>/load.json``; returns why it was skipped, if it was."""
    try:
        from rampart.loadtests.runner import run_load
    except ImportError as exc:
        return f"load runner not available ({exc})"
    console.rule("load comparison")
    try:
        asyncio.run(
            run_load(
                configs,
                duration_s=args.load_duration,
                users=args.load_users,
                rounds=2,
                out_dir=args.out,
                progress=console.print,
            )
        )
    except (RuntimeError, OSError, ValueError) as exc:
        return f"load comparison failed: {exc}"
    return None


def _demo(args: argparse.Namespace) -> int:
    from rampart.attacks.cli import make_console, run_replay
    from rampart.attacks.report import print_headline, write_report

    console = make_console()
    if args.quick:
        args.limit_per_class = args.limit_per_class or QUICK_PER_CLASS
        args.benign_limit = args.benign_limit if args.benign_limit is not None else QUICK_BENIGN
    if args.configs == "all" and not args.targets and not args.no_peers:
        from rampart.attacks.replay.peers import in_app_peer_missing
        from rampart.loadtests.nginx_peer import available

        why = available(crs=True)
        if why is None:
            args.configs = "all,nginx+crs"
        else:
            console.print(f"[yellow]peer nginx+crs not run: needs {why}[/yellow]")
        missing = in_app_peer_missing("aikido")
        if missing is None:
            args.configs += ",aikido"
        else:
            console.print(f"[yellow]peer aikido not run: {missing}[/yellow]")
    out: Path = args.out
    stale = out / "load.json"
    if stale.exists():
        stale.unlink()
    console.rule("rampart demo: replay")
    try:
        result = run_replay(args, console)
        measured = list(result.results.get("configs", {}))
        for name, why in result.results.get("skipped", {}).items():
            console.print(f"[yellow]{name} not measured: {why}[/yellow]")
        skipped_load = "--no-load given" if args.no_load or args.targets else _load(args, console, measured)
    except KeyboardInterrupt:
        console.print("[red]interrupted; every process the demo started has been stopped[/red]")
        return 130
    except (ValueError, FileNotFoundError, RuntimeError, TimeoutError) as exc:
        console.print(f"[red]rampart demo: {exc}[/red]")
        return 2
    if skipped_load:
        console.print(f"[yellow]load comparison skipped: {skipped_load}[/yellow]")
    paths = write_report(out)
    console.rule("results")
    import json

    print_headline(console, json.loads((out / "results.json").read_text(encoding="utf-8")))
    console.print("report: " + ", ".join(str(p) for p in paths))
    return 0
