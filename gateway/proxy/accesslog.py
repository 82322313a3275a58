"""The optional access log: one JSON line per sampled request, fields bounded.

Off unless ``access_log.path`` is set. Each line: time, request id, client (after
trusted-proxy resolution), method, host, path, status, the gateway's outcome and decision,
and milliseconds to the response head. Lines are queued (bounded: past ``queue_size`` they
are dropped and counted, never blocking a request) and written in a worker thread by a
rotating :class:`rampart.incidents.IncidentWriter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime

from rampart.gateway.audit import log_event
from rampart.gateway.config import AccessLogSettings
from rampart.incidents import FIELD_LIMITS, IncidentWriter, bound

__all__ = ["AccessLog", "access_record"]

_LOG = logging.getLogger("rampart.gateway.audit")


def access_record(
    *,
    request_id: str,
    client: str,
    method: str,
    host: str,
    path: str,
    status: int,
    outcome: str,
    decision: str,
    duration_ms: float,
) -> str:
    """One access-log line (no newline), every text field bounded like incident fields."""
    return json.dumps(
        {
            "time": datetime.now(UTC).isoformat(),
            "request_id": bound(request_id, FIELD_LIMITS["request_id"]),
            "client": bound(client, FIELD_LIMITS["client"]),
            "method": bound(method, FIELD_LIMITS["method"]),
            "host": bound(host, FIELD_LIMITS["host"]),
            "path": bound(path, FIELD_LIMITS["path"]),
            "status": status,
            "outcome": outcome,
            "decision": decision,
            "duration_ms": round(duration_ms, 2),
        },
        ensure_ascii=False,
    )


class AccessLog:
    """Sampled, bounded, written off the request path."""

    def __init__(
        self,
        settings: AccessLogSettings,
        *,
        on_dropped: Callable[[], None] | None = None,
        sample: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.enabled = settings.path is not None and settings.sample > 0
        self.writer = IncidentWriter(settings.path, max_bytes=settings.max_bytes, backups=settings.backups)
        self._queue: asyncio.Queue[str] = asyncio.Queue(settings.queue_size)
        self._task: asyncio.Task[None] | None = None
        self._on_dropped = on_dropped
        self._sample = sample

    def start(self) -> None:
        if self.enabled:
            self._task = asyncio.create_task(self._run(), name="rampart-access-log")

    def wanted(self) -> bool:
        """Is this request sampled?"""
        return self.enabled and (self.settings.sample >= 1.0 or self._sample() < self.settings.sample)

    def submit(self, line: str) -> None:
        try:
            self._queue.put_nowait(line)
        except asyncio.QueueFull:
            if self._on_dropped is not None:
                self._on_dropped()

    def _write(self, lines: list[str]) -> None:
        for line in lines:
            self.writer.write_line(line)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < 512 and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await asyncio.to_thread(self._write, batch)
            except OSError as exc:
                log_event(_LOG, logging.ERROR, "access_log_write_failed", error=exc)
            for _ in batch:
                self._queue.task_done()

    async def flush(self) -> None:
        await self._queue.join()

    async def close(self) -> None:
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), 5.0)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.writer.close()
