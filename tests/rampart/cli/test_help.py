"""Every subcommand's help shows every default; the gateway's match its settings."""

from __future__ import annotations

import argparse
import re

import pytest

from rampart.cli import build_parser
from rampart.gateway.config import GatewaySettings


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_every_option_help_names_its_default(command: str) -> None:
    parser = _subparsers()[command]
    formatter = parser._get_formatter()
    missing = []
    for action in parser._actions:
        if not action.option_strings or action.nargs == 0 or action.help == argparse.SUPPRESS:
            continue
        text = formatter._expand_help(action) if action.help else ""
        if "default" not in text.lower() and "required" not in text.lower():
            missing.append(action.option_strings[0])
    assert not missing, f"rampart {command}: options without a default in --help: {missing}"


def _shown_default(parser: argparse.ArgumentParser, option: str) -> str:
    action = next(a for a in parser._actions if option in a.option_strings)
    m = re.search(r"\(default: ([^)]*)\)", parser._get_formatter()._expand_help(action))
    assert m, f"{option} shows no default"
    return m.group(1)


def test_gateway_help_defaults_are_the_settings_defaults() -> None:
    text = _subparsers()["gateway"]
    fields = GatewaySettings.model_fields
    for option, key in (
        ("--port", "port"),
        ("--host", "host"),
        ("--workers", "workers"),
        ("--paranoia", "paranoia"),
        ("--threshold", "threshold"),
    ):
        assert _shown_default(text, option) == str(fields[key].default)
    assert _shown_default(text, "--engine") == ",".join(fields["engines"].default)
    assert _shown_default(text, "--mode") == fields["mode"].default


def test_lab_on_a_held_port_names_the_holder_and_exits_2() -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "rampart.cli", "lab", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    assert f"rampart lab: cannot listen on 127.0.0.1:{port}: address already in use" in done.stderr
    assert "--port" in done.stderr
    assert "Traceback" not in done.stderr
