"""Find processes by an environment tag, to prove nothing a run started is left behind."""

from __future__ import annotations

import os
from pathlib import Path

TAG_VAR = "RAMPART_TEST_RUN_TAG"


def tagged_pids(tag: str) -> list[int]:
    """Live (non-zombie) processes whose environment carries ``RAMPART_TEST_RUN_TAG=tag``."""
    needle = f"{TAG_VAR}={tag}".encode()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found
