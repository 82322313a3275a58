"""The code sink judges the application's own ``eval``/``exec``/``compile``/``ast.parse``
and leaves the interpreter's and libraries' compilations alone (traceback carets,
dataclasses, typing, pydantic, jinja2), even when the compiled text holds the input."""

from __future__ import annotations

import ast
import dataclasses
import json
import logging
import traceback
import typing

import jinja2
import pydantic
import pytest

from rampart.inprocess.context import bind
from rampart.inprocess.errors import Blocked
from rampart.inprocess.sinks.code import is_library_file

from ..conftest import request_ctx

ATTACK = "__import__('os').getcwd()"


def test_the_apps_eval_exec_compile_and_ast_parse_are_judged(make_guard) -> None:
    make_guard("block")
    for call in (
        lambda: eval(ATTACK),
        lambda: exec(ATTACK),
        lambda: compile(ATTACK, "<string>", "eval"),
        lambda: ast.parse(ATTACK),
    ):
        with bind(request_ctx(expr=ATTACK)), pytest.raises(Blocked):
            call()


def test_interpreter_and_library_compiles_pass(make_guard, caplog: pytest.LogCaptureFixture) -> None:
    guard = make_guard("block")
    name = "count"
    with bind(request_ctx(field=name, expr="int(count) * 2", hint="list[count]")):
        try:
            json.loads(name)
        except ValueError:
            logging.getLogger("app").exception("bad %s", name)
            assert "json.loads(name)" in traceback.format_exc()
        row = dataclasses.make_dataclass("Row", [(name, int)])
        assert row(3).count == 3
        holder = type("Holder", (), {"__annotations__": {"value": "list[count]"}})
        assert typing.get_type_hints(holder, localns={"count": int}) == {"value": list[int]}
        model = pydantic.create_model("M", **{name: (int, ...)})  # type: ignore[call-overload]
        assert model.model_validate({name: "3"}).model_dump() == {name: 3}
        template = jinja2.Environment(autoescape=True).from_string("{{ count * 2 }}")
        assert template.render(count=2) == "4"
    assert guard.detections == 0


@pytest.mark.parametrize(
    ("filename", "library"),
    [
        (json.__file__, True),
        (pydantic.__file__, True),
        ("<frozen importlib._bootstrap>", True),
        ("<string>", False),
        (__file__, False),
    ],
)
def test_is_library_file(filename: str, library: bool) -> None:
    assert is_library_file(filename) is library
