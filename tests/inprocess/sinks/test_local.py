"""Each patched sink sees the real argument of a real call: an injected input raises
``Blocked`` in block mode (the call does not run), runs in detect mode with an incident, and
a benign input runs untouched."""

from __future__ import annotations

import asyncio
import os
import pickle
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from rampart.incidents import read_incidents
from rampart.inprocess.context import bind
from rampart.inprocess.errors import Blocked
from rampart.inprocess.install import deactivate

from ..conftest import request_ctx

MARKER_EXPR = "'rmp' + str(1000+337) + 'x'"


class Boom:
    """Pickled to a payload whose globals (``os.system``) the detector refuses."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("true",))


PICKLE_BAD = pickle.dumps(Boom())
PICKLE_OK = pickle.dumps({"a": [1, 2, "x"]})
YAML_BAD = "!!python/object/apply:os.system ['true']"
YAML_OK = "a: [1, 2]\nb: text\n"


@dataclass(frozen=True)
class Case:
    id: str
    sink: str
    call: Callable[[str, Path], Any]  # (user input, tmp dir) -> result of the sink call
    attack: str
    benign: str


def _sqlite(value: str, tmp: Path) -> Any:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE orders (id INTEGER, item TEXT)")
    return conn.execute(f"SELECT id, item FROM orders WHERE item LIKE '%{value}%'").fetchall()


def _sqlite_cursor_script(value: str, tmp: Path) -> Any:
    conn = sqlite3.connect(str(tmp / "db.sqlite"), factory=sqlite3.Connection)
    cur = conn.cursor()
    return cur.executescript(f"CREATE TABLE IF NOT EXISTS t (v TEXT); INSERT INTO t VALUES ('{value}');")


def _subprocess_run(value: str, tmp: Path) -> Any:
    return subprocess.run(f"echo {value}", shell=True, capture_output=True, check=False).stdout


def _os_system(value: str, tmp: Path) -> Any:
    return os.system(f"true {value} > /dev/null")


def _popen_argv(value: str, tmp: Path) -> Any:
    return subprocess.run(["/bin/sh", "-c", f"echo {value}"], capture_output=True, check=False).stdout


def _asyncio_shell(value: str, tmp: Path) -> Any:
    async def run() -> bytes:
        proc = await asyncio.create_subprocess_shell(f"echo {value}", stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        return out

    return asyncio.run(run())


def _open(value: str, tmp: Path) -> Any:
    docs = tmp / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "a.txt").write_text("doc")
    (tmp / "secret.txt").write_text("secret")
    with open(os.path.join(docs, value)) as fh:
        return fh.read()


def _pathlib_read(value: str, tmp: Path) -> Any:
    docs = tmp / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "a.txt").write_text("doc")
    (tmp / "secret.txt").write_text("secret")
    return (docs / value).read_text()


def _remove(value: str, tmp: Path) -> Any:
    docs = tmp / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "a.txt").write_text("doc")
    (tmp / "secret.txt").write_text("secret")
    os.remove(str(docs / value))
    return True


def _rmtree(value: str, tmp: Path) -> Any:
    (tmp / "docs" / "sub").mkdir(parents=True, exist_ok=True)
    (tmp / "keep").mkdir(exist_ok=True)
    shutil.rmtree(str(tmp / "docs" / value))
    return True


def _eval(value: str, tmp: Path) -> Any:
    return eval(value)


def _exec(value: str, tmp: Path) -> Any:
    scope: dict[str, Any] = {}
    exec(f"result = {value}", scope)
    return scope["result"]


def _jinja_from_string(value: str, tmp: Path) -> Any:
    return jinja2.Environment().from_string(f"<p>{value}</p>").render(name="n")


def _jinja_template(value: str, tmp: Path) -> Any:
    return jinja2.Template(f"<p>{value}</p>").render(name="n")


def _pickle_loads(value: str, tmp: Path) -> Any:
    return pickle.loads(bytes.fromhex(value))


def _pickle_load(value: str, tmp: Path) -> Any:
    path = tmp / "data.pickle"
    path.write_bytes(bytes.fromhex(value))
    with path.open("rb") as fh:
        return pickle.load(fh)


def _yaml_unsafe(value: str, tmp: Path) -> Any:
    return yaml.unsafe_load(value)


def _yaml_load_loader(value: str, tmp: Path) -> Any:
    return yaml.load(value, Loader=yaml.UnsafeLoader)


CASES = [
    Case("sqlite-execute", "sql", _sqlite, "x' UNION SELECT 1, name FROM sqlite_master --", "widget"),
    Case("sqlite-executescript", "sql", _sqlite_cursor_script, "a'); DROP TABLE t; --", "plain"),
    Case("subprocess-run", "shell", _subprocess_run, "a; id", "hello"),
    Case("os-system", "shell", _os_system, "x; id", "hello"),
    Case("popen-argv", "shell", _popen_argv, "a && whoami", "hello"),
    Case("asyncio-shell", "shell", _asyncio_shell, "a | id", "hello"),
    Case("open", "files", _open, "../secret.txt", "a.txt"),
    Case("pathlib", "files", _pathlib_read, "../secret.txt", "a.txt"),
    Case("os-remove", "files", _remove, "../secret.txt", "a.txt"),
    Case("shutil-rmtree", "files", _rmtree, "../keep", "sub"),
    Case("eval", "code", _eval, "[].__class__.__mro__", "2*(3+4)"),
    Case("exec", "code", _exec, "__import__('os').getcwd()", "41+1"),
    Case(
        "jinja-from-string",
        "templates",
        _jinja_from_string,
        "{{ cycler.__init__.__globals__ }}",
        "Ada",
    ),
    Case("jinja-template", "templates", _jinja_template, "{{ 7*191 }}", "hello"),
    Case("pickle-loads", "deserialization", _pickle_loads, PICKLE_BAD.hex(), PICKLE_OK.hex()),
    Case("pickle-load", "deserialization", _pickle_load, PICKLE_BAD.hex(), PICKLE_OK.hex()),
    Case("yaml-unsafe-load", "deserialization", _yaml_unsafe, YAML_BAD, YAML_OK),
    Case("yaml-load-unsafe-loader", "deserialization", _yaml_load_loader, YAML_BAD, YAML_OK),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_block_mode_stops_the_call(case: Case, make_guard, tmp_path: Path, incidents_file: Path) -> None:
    guard = make_guard("block")
    with bind(request_ctx(v=case.attack)), pytest.raises(Blocked) as info:
        case.call(case.attack, tmp_path)
    assert info.value.sink == case.sink
    [incident] = read_incidents(incidents_file)
    assert (incident.sink, incident.action) == (case.sink, "block")
    assert guard.errors == 0, list(guard.recent_errors)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_benign_input_runs(case: Case, make_guard, tmp_path: Path, incidents_file: Path) -> None:
    guard = make_guard("block")
    with bind(request_ctx(v=case.benign)):
        case.call(case.benign, tmp_path)
    assert not incidents_file.exists(), read_incidents(incidents_file)
    assert guard.errors == 0, list(guard.recent_errors)


DETECT_CASES = [c for c in CASES if c.sink in ("sql", "code", "templates", "files")]


@pytest.mark.parametrize("case", DETECT_CASES, ids=[c.id for c in DETECT_CASES])
def test_detect_mode_runs_and_records(case: Case, make_guard, tmp_path: Path, incidents_file: Path) -> None:
    make_guard("detect")
    with bind(request_ctx(v=case.attack)):
        try:
            case.call(case.attack, tmp_path)
        except Blocked:
            pytest.fail("detect mode must not block")
        except Exception:
            pass
    incidents = read_incidents(incidents_file)
    assert incidents
    assert {i.action for i in incidents} == {"log"}


def test_deserialization_is_checked_without_a_request(make_guard) -> None:
    make_guard("block")
    with pytest.raises(Blocked):
        pickle.loads(PICKLE_BAD)
    assert pickle.loads(PICKLE_OK) == {"a": [1, 2, "x"]}


def test_eval_marker_does_not_run_when_blocked(make_guard) -> None:
    make_guard("block", detectors={"code": {"options": {"strict": True}}})
    ran: list[str] = []
    with bind(request_ctx(v=MARKER_EXPR)), pytest.raises(Blocked):
        ran.append(eval(MARKER_EXPR))
    assert ran == []


def test_shell_effect_does_not_happen(make_guard, tmp_path: Path) -> None:
    make_guard("block")
    marker = tmp_path / "ran"
    value = f"x; touch {marker}"
    with bind(request_ctx(v=value)), pytest.raises(Blocked):
        subprocess.run(f"echo {value}", shell=True, check=False)
    assert not marker.exists()


def test_audit_hooks_go_dormant_after_uninstall(make_guard, tmp_path: Path) -> None:
    guard = make_guard("block")
    deactivate(guard)
    with bind(request_ctx(v="a; id")):
        out = subprocess.run("echo a; id", shell=True, capture_output=True, check=False)
    assert out.returncode == 0
