"""Shell sink via PEP 578 audit hooks.

``subprocess.Popen`` raises the ``subprocess.Popen`` audit event with the final argv (a
``shell=True`` call arrives as ``['/bin/sh', '-c', command]``), which covers ``run``, ``call``,
``check_output``, ``os.popen`` and ``asyncio.create_subprocess_shell/exec``; ``os.system``
raises ``os.system``; ``os.exec*``/``os.spawn*``/``os.posix_spawn*`` raise their own events.
An audit hook sees every caller, including ones holding a reference taken before install,
and raising from it aborts the call before anything is executed.
"""

from __future__ import annotations

from typing import Any

from rampart.inprocess import guard
from rampart.inprocess.patching import Patcher

__all__ = ["patch"]

SINK = "shell"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _argv(value: Any) -> list[str]:
    if isinstance(value, str | bytes):
        return [_text(value)]
    return [_text(a) for a in value]


def _popen(args: tuple[Any, ...]) -> None:
    guard.check(SINK, "subprocess.Popen", "shell", _argv(args[1]), shell=False)


def _system(args: tuple[Any, ...]) -> None:
    guard.check(SINK, "os.system", "shell", _text(args[0]), shell=True)  # noqa: S604 - a detector option


def _exec(args: tuple[Any, ...]) -> None:
    guard.check(SINK, "os.exec", "shell", _argv(args[1]), shell=False)


def _spawn(args: tuple[Any, ...]) -> None:
    guard.check(SINK, "os.spawn", "shell", _argv(args[2]), shell=False)


def patch(patcher: Patcher) -> None:
    patcher.audit("subprocess.Popen", _popen, needs_request=True)
    patcher.audit("os.system", _system, needs_request=True)
    patcher.audit("os.exec", _exec, needs_request=True)
    patcher.audit("os.posix_spawn", _exec, needs_request=True)
    patcher.audit("os.spawn", _spawn, needs_request=True)
