"""CPU time of server processes and their children, from /proc (Linux), and the warning
that the load generator shares the cores with what it measures."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["cpu_seconds", "shared_cores_warning", "with_descendants"]


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def with_descendants(pids: Iterable[int]) -> set[int]:
    """``pids`` and every live process below them."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    seen: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, ()))
    return seen


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime of each process (not of its reaped children), summed; gone ones count 0."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        if (fields := _stat(pid)) is not None:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def shared_cores_warning() -> str:
    """Locust, the servers and their upstreams all run on this machine's cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
    return (
        f"the load generator (Locust) runs on the same {cores} cores as the servers it measures: "
        "req/s are lower bounds and ratios move with the machine's load (waf/none read 0.99 on a "
        "loaded machine and 0.58 on a quiet one); compare CPU µs per request, and for absolute "
        "figures run Locust on other cores (taskset) or another machine"
    )
