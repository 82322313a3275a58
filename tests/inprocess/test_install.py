"""The front door ``rampart.inprocess.install``: which apps it recognises, what it returns, the
precedence of ``mode`` over settings, and the order activate/deactivate work in."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import pytest
from aiohttp import web
from starlette.applications import Starlette

from rampart import inprocess
from rampart.inprocess import guard as guard_module
from rampart.inprocess import propagation, sinks
from rampart.inprocess.config import load_settings
from rampart.inprocess.frameworks.aiohttp import GUARD_KEY
from rampart.inprocess.frameworks.asgi import RampartASGI
from rampart.inprocess.frameworks.wsgi import RampartWSGI
from rampart.inprocess.install import activate, build_guard, deactivate


@pytest.fixture
def cleanup() -> Iterator[None]:
    yield
    active = guard_module.active()
    if active is not None:
        deactivate(active)
    assert guard_module.active() is None


def _wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


async def _asgi(scope: Any, receive: Any, send: Any) -> None:
    return None


def test_aiohttp_app_is_guarded_in_place(cleanup: None) -> None:
    app = web.Application()
    assert inprocess.install(app, mode="block") is app
    assert app[GUARD_KEY] is guard_module.active()
    assert len(app.middlewares) == 1
    assert type(sqlite3.connect(":memory:")).__name__.startswith("Guarded")


def test_flask_app_is_guarded_through_wsgi_app(cleanup: None) -> None:
    app = flask.Flask("t")
    assert inprocess.install(app, mode="detect") is app
    assert isinstance(app.wsgi_app, RampartWSGI)


@pytest.mark.parametrize(
    ("app", "kind"), [(_wsgi, RampartWSGI), (_asgi, RampartASGI), (Starlette(), RampartASGI)]
)
def test_callables_are_wrapped(cleanup: None, app: Any, kind: Any) -> None:
    wrapped: Any = inprocess.install(app, mode="block")
    assert isinstance(wrapped, kind)
    assert wrapped.app is app


def test_something_else_is_refused(cleanup: None) -> None:
    with pytest.raises(TypeError, match="neither an aiohttp Application"):
        inprocess.install(object(), mode="block")


def test_mode_off_touches_nothing(cleanup: None) -> None:
    assert inprocess.install(_wsgi, mode="off") is _wsgi
    assert guard_module.active() is None
    assert sinks.installed() == ()


def test_explicit_mode_wins_and_none_keeps_the_settings(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(mode="detect")
    with caplog.at_level("INFO", logger="rampart.inprocess.install"):
        assert build_guard("block", settings=settings).mode == "block"
    assert "overrides" in caplog.text
    assert build_guard(None, settings=settings).mode == "detect"
    assert build_guard(None, settings=load_settings(mode="block")).mode == "block"


def test_mode_from_environment_when_nothing_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAMPART_GUARD_MODE", "block")
    assert build_guard().mode == "block"
    assert build_guard("detect").mode == "detect"


def test_activate_then_deactivate_in_order(tmp_path: Path) -> None:
    guard = build_guard("block", incidents_path=tmp_path / "i.jsonl")
    assert activate(guard) is guard
    assert guard_module.active() is guard
    assert sinks.installed()
    assert propagation._patcher is not None
    assert activate(guard) is guard  # idempotent
    other = build_guard("block")
    with pytest.raises(RuntimeError, match="already installed"):
        activate(other)
    deactivate(guard)
    assert guard_module.active() is None
    assert sinks.installed() == ()
    assert propagation._patcher is None
