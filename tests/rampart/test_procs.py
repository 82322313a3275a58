"""Stopping a spawned server (:mod:`rampart.procs`) when the caller is interrupted meanwhile: a
Ctrl-C that cancels the task stopping a slow server must neither be swallowed nor leave the
server running."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from rampart.procs import stop

# a server that ignores SIGTERM: stopping it takes the whole grace period
_STUBBORN = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_stop_interrupted_during_its_grace_period_kills_the_server_and_stays_cancelled() -> None:
    async def scenario() -> int:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _STUBBORN, stdout=asyncio.subprocess.PIPE, start_new_session=True
        )
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"ready"
        stopping = asyncio.create_task(stop(proc, grace=30.0))
        await asyncio.sleep(0.3)  # SIGTERM sent and ignored: stop waits out its grace period
        assert _alive(proc.pid)
        stopping.cancel()  # what a Ctrl-C does to the task running stop()
        with pytest.raises(asyncio.CancelledError):
            await stopping
        await asyncio.wait_for(proc.wait(), 5.0)
        return proc.pid

    pid = asyncio.run(scenario())
    assert not _alive(pid)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
