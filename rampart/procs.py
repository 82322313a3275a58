"""Start rampart servers as child processes and wait for their ready line.

Every server subcommand logs exactly one line ``<name> ready: http://HOST:PORT`` when it
serves; :func:`spawn` reads it (so ``--port 0`` works) and stops the whole process group
on exit, so nothing is left orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

__all__ = ["READY_RE", "ServerProcess", "ready_line", "spawn", "stop"]

READY_RE = re.compile(r"(?P<name>[\w.+-]+) ready: (?P<url>https?://[^\s]+)")


def ready_line(name: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{name} ready: http://{shown}:{port}"


@dataclass
class ServerProcess:
    name: str
    url: str
    proc: asyncio.subprocess.Process
    output: list[str]


async def _drain(stream: asyncio.StreamReader, sink: list[str]) -> None:
    while line := await stream.readline():
        sink.append(line.decode("utf-8", "replace").rstrip("\n"))
        if len(sink) > 5000:
            del sink[:1000]


@contextlib.asynccontextmanager
async def spawn(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> AsyncIterator[ServerProcess]:
    """Run ``rampart <args>`` (or any argv starting with an executable) until its ready line."""
    argv = list(args)
    if not argv or (os.path.sep not in argv[0] and argv[0] != sys.executable):
        argv = [sys.executable, "-m", "rampart.cli", *argv]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=full_env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    output: list[str] = []
    drain: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                raw = await proc.stdout.readline()
                if not raw:
                    raise RuntimeError(
                        f"{argv[3:] or argv} exited before it was ready:\n" + "\n".join(output[-40:])
                    )
                line = raw.decode("utf-8", "replace").rstrip("\n")
                output.append(line)
                if m := READY_RE.search(line):
                    break
        drain = asyncio.create_task(_drain(proc.stdout, output))
        yield ServerProcess(m.group("name"), m.group("url"), proc, output)
    finally:
        await stop(proc)
        if drain is not None:
            drain.cancel()
            # gather, not a suppressed await: a Ctrl-C that cancels this task meanwhile must
            # propagate (suppressing CancelledError here would swallow it, and the caller
            # would run on); the drain's own cancellation is returned, not raised
            await asyncio.gather(drain, return_exceptions=True)


async def stop(proc: asyncio.subprocess.Process, grace: float = 10.0) -> int:
    """SIGTERM the process group, wait, SIGKILL whatever is left."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        except asyncio.CancelledError:
            # interrupted (a Ctrl-C) while it shuts down: nothing will wait for it any more, so
            # it must not outlive the caller
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
    # children that outlived their parent in the same group
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode if proc.returncode is not None else -1
