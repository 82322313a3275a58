"""The ``rampart`` command: the roof above the parts. Each part registers its own subcommands;
the demo (:mod:`.demo`) and the incident search (:mod:`.incidents`) live here because they
combine parts. Nothing below this package imports it.

Every part's ``cli`` module exposes ``register(subparsers)``; it must stay light to import
(heavy imports go inside the command function) so ``rampart --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from rampart import __version__, netguard

__all__ = ["DefaultsHelpFormatter", "build_parser", "main"]

# Parts that contribute subcommands, in help order. A part that is not built yet is skipped.
PARTS = (
    "rampart.labapp.cli",
    "rampart.gateway.cli",
    "rampart.attacks.cli",
    "rampart.loadtests.cli",
    "rampart.cli.demo",
    "rampart.cli.list_incidents",
)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already names it.

    Applied to every subcommand, so a part's ``register`` cannot forget it; an unset default
    reads ``none`` (the option's help says what happens then).
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            not action.option_strings
            or action.nargs == 0
            or action.default is argparse.SUPPRESS
            or "%(default)" in text
            or "default" in text.lower()
            or "required" in text.lower()
        ):
            return action.help
        shown = "none" if action.default in (None, [], ()) else "%(default)s"
        return f"{text} (default: {shown})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rampart",
        description="Measure what a perimeter WAF and in-process runtime protection each catch.",
    )
    parser.add_argument("--version", action="version", version=f"rampart {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in PARTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue
            raise
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    for subparser in sub.choices.values():
        subparser.formatter_class = DefaultsHelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    netguard.install_from_env()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    result = func(args)
    return int(result or 0)
