"""Fixtures for guard tests: an installed guard that is always uninstalled (the patches are
process-wide and the whole suite shares one process), and request contexts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rampart.inprocess import guard as runtime
from rampart.inprocess.config import load_settings
from rampart.inprocess.context import RequestContext, UserInput, flatten
from rampart.inprocess.guard import Guard
from rampart.inprocess.install import activate, deactivate

GuardFactory = Callable[..., Guard]


@pytest.fixture
def incidents_file(tmp_path: Path) -> Path:
    return tmp_path / "incidents.jsonl"


@pytest.fixture
def make_guard(incidents_file: Path) -> Iterator[GuardFactory]:
    """``make_guard(mode="block", **settings)`` -> an installed guard, removed after the test."""
    made: list[Guard] = []

    def make(
        mode: str = "block", *, harness: bool = False, sinks: tuple[str, ...] | None = None, **settings: Any
    ) -> Guard:
        guard = Guard(load_settings(mode=mode, **settings), incidents_path=incidents_file, harness=harness)
        made.append(guard)
        return activate(guard, sinks)

    yield make
    for guard in made:
        deactivate(guard)
    assert runtime.active() is None


def request_ctx(request_id: str = "req-1", client_ip: str = "127.0.0.1", **values: Any) -> RequestContext:
    """A context whose inputs are ``values`` as query parameters (``query.<name>``)."""
    inputs: list[UserInput] = []
    for name, value in values.items():
        flatten(f"query.{name}", value, inputs)
    return RequestContext(request_id=request_id, method="GET", path="/", client_ip=client_ip, inputs=inputs)
