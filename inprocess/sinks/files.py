"""Filesystem sink via PEP 578 audit hooks.

``open`` (raised by ``builtins.open``, ``io.open``, ``os.open``, ``pathlib``) and the
``os.*``/``shutil.*`` events for removing, renaming, listing, copying and moving carry the
path before the operation runs; raising from the hook aborts it. File descriptors (``int``
paths) are skipped: they were checked when opened.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rampart.inprocess import guard
from rampart.inprocess.patching import Patcher

__all__ = ["EVENTS", "patch"]

SINK = "files"


def _path(value: Any) -> str | None:
    if isinstance(value, int) or value is None:
        return None
    try:
        raw = os.fspath(value)
    except TypeError:
        return None
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _handler(event: str, positions: tuple[int, ...]) -> Callable[[tuple[Any, ...]], None]:
    def handle(args: tuple[Any, ...]) -> None:
        if guard.active() is None:
            return
        for i in positions:
            if i < len(args):
                path = _path(args[i])
                if path:
                    guard.check(SINK, event, "path", path)

    return handle


# audit event -> argument positions that are paths
EVENTS: dict[str, tuple[int, ...]] = {
    "open": (0,),
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.rename": (0, 1),
    "os.link": (0, 1),
    "os.symlink": (0, 1),
    "os.truncate": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.mkdir": (0,),
    "os.listdir": (0,),
    "os.scandir": (0,),
    "os.utime": (0,),
    "shutil.copyfile": (0, 1),
    "shutil.copymode": (0, 1),
    "shutil.copystat": (0, 1),
    "shutil.copytree": (0, 1),
    "shutil.move": (0, 1),
    "shutil.rmtree": (0,),
    "shutil.make_archive": (0,),
    "shutil.unpack_archive": (0, 1),
}


def patch(patcher: Patcher) -> None:
    for event, positions in EVENTS.items():
        patcher.audit(event, _handler(event, positions), needs_request=True)
