"""The gateway's audit log: one shared-schema incident per matched rule, written off the
hot path, plus the structured log lines the gateway emits.

Every engine that reaches a ``detect`` or ``block`` decision yields one
:class:`rampart.incidents.Incident` per matched rule (up to ``max_per_request`` per engine),
evidence redacted by ``Incident.create``. The enforcing engine's incidents carry the action
taken (``block`` or ``detect``); shadow engines' carry ``shadow``. Incidents go through a
bounded queue to a writer task that writes batches in a worker thread; when the queue is
full, incidents are dropped and counted, never blocking a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from gateway.model import Verdict
from rampart.incidents import Incident, IncidentWriter, bound, escape_controls

__all__ = ["CONFIDENCE", "TARGET_LIMIT", "AuditLog", "incidents_for", "log_event"]

CONFIDENCE: dict[str, float] = {"critical": 0.9, "error": 0.75, "warning": 0.5, "notice": 0.3}


def log_event(logger: logging.Logger, level: int, event: str, **fields: object) -> None:
    """One ``event key=value ...`` line, values escaped so a client cannot forge lines."""
    if not logger.isEnabledFor(level):
        return
    parts = [event, *(f"{k}={escape_controls(str(v))}" for k, v in fields.items() if v is not None)]
    logger.log(level, " ".join(parts))


TARGET_LIMIT = 96  # characters of a target name (``ARGS:<attacker-chosen name>``) in a message


def incidents_for(
    verdict: Verdict, *, request_id: str, action: str, limit: int, **context: str | int | None
) -> list[Incident]:
    """The incidents a flagged verdict yields, one per matched rule up to ``limit`` (none
    when not flagged). ``context`` adds request fields (client, method, host, path, status,
    decision); every field is bounded by ``Incident.create``."""
    if not verdict.flagged:
        return []
    score = f"{verdict.score}/{verdict.threshold}"
    return [
        Incident.create(
            request_id=request_id,
            layer="waf",
            engine=verdict.engine,
            rule=m.rule_id,
            attack_class=m.attack_class,
            action=action,
            confidence=CONFIDENCE.get(m.severity, 0.5),
            evidence=m.matched,
            message=f"{m.message} [{bound(m.target, TARGET_LIMIT)}] score={score}",
            **context,
        )
        for m in verdict.matches[:limit]
    ]


class AuditLog:
    """Queue plus writer task around an :class:`IncidentWriter`."""

    def __init__(
        self,
        writer: IncidentWriter,
        *,
        queue_size: int = 10_000,
        on_written: Callable[[int], None] | None = None,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        self.writer = writer
        self._queue: asyncio.Queue[Incident] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._on_written = on_written
        self._on_dropped = on_dropped

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="rampart-audit-writer")

    def submit(self, incidents: list[Incident]) -> None:
        dropped = 0
        for incident in incidents:
            try:
                self._queue.put_nowait(incident)
            except asyncio.QueueFull:
                dropped += 1
        if dropped and self._on_dropped is not None:
            self._on_dropped(dropped)

    def _write_batch(self, batch: list[Incident]) -> None:
        for incident in batch:
            self.writer.write(incident)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < 256 and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await asyncio.to_thread(self._write_batch, batch)
            except OSError as exc:
                log_event(logging.getLogger("gateway.audit"), logging.ERROR, "audit_write_failed", error=exc)
            else:
                if self._on_written is not None:
                    self._on_written(len(batch))
            for _ in batch:
                self._queue.task_done()

    async def flush(self) -> None:
        """Wait until everything submitted so far is written."""
        await self._queue.join()

    async def close(self) -> None:
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), 5.0)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.writer.close()
