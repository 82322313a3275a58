"""Who holds a TCP port: the listening socket's owner, read from /proc (Linux).

Used to turn a bare ``EADDRINUSE`` into a message naming the listener and the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Holder", "PortInUse", "port_holder", "port_pids"]

_LISTEN = "0A"


@dataclass(frozen=True, slots=True)
class Holder:
    """A process with a listening socket on the port (``pid`` None: the socket is not ours to see)."""

    pid: int | None
    command: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "a process of another user"
        return f"pid {self.pid}" + (f" ({self.command})" if self.command else "")


class PortInUse(OSError):
    """A listener could not bind: the address, the holder when known, and the option to change."""

    def __init__(self, host: str, port: int, holder: Holder | None, option: str = "--port") -> None:
        self.host, self.port, self.holder, self.option = host, port, holder, option
        held = f", held by {holder.describe()}" if holder else ""
        super().__init__(
            98,
            f"cannot listen on {host}:{port}: address already in use{held}; "
            f"stop that process or choose another port with {option} (0 picks a free one)",
        )

    def __str__(self) -> str:
        return str(self.strerror)


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _command(pid_dir: Path) -> str | None:
    try:
        raw = (pid_dir / "cmdline").read_bytes()
    except OSError:
        return None
    text = " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)
    return text[:160] or None


def _holders(port: int, proc: Path, *, first: bool) -> list[Holder] | None:
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    found: list[Holder] = []
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            fds = list((pid_dir / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in targets:
                    found.append(Holder(int(pid_dir.name), _command(pid_dir)))
                    break
            except OSError:
                continue
        if first and found:
            break
    return found


def port_holder(port: int, *, proc: Path = Path("/proc")) -> Holder | None:
    """The process listening on TCP ``port`` (any address), or None when no listener is seen.

    A listener owned by another user shows up in the socket table but not in our view of
    ``/proc/*/fd``: then the holder has no pid.
    """
    found = _holders(port, proc, first=True)
    if found is None:
        return None
    return found[0] if found else Holder(None, None)


def port_pids(port: int, *, proc: Path = Path("/proc")) -> list[int]:
    """Every process we can see holding a listening socket on TCP ``port`` (nginx: master and
    workers; a supervised gateway: its workers)."""
    return [h.pid for h in _holders(port, proc, first=False) or [] if h.pid is not None]
