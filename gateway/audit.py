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
from typing import Protocol

from rampart.gateway.model import Verdict
from rampart.incidents import Incident, IncidentWriter, bound, escape_controls

__all__ = ["CONFIDENCE", "TARGET_LIMIT", "AuditLog", "BatchSink", "incidents_for", "log_event"]

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


class BatchSink(Protocol):
    """Where incidents go besides the JSONL file (the PostgreSQL store)."""

    def write_batch(self, batch: list[Incident]) -> None: ...

    def close(self) -> None: ...


class _Lane:
    """One destination with its own bounded queue and writer task, so a slow database never
    holds up the file (or a request)."""

    def __init__(
        self,
        name: str,
        write: Callable[[list[Incident]], None],
        queue_size: int,
        on_written: Callable[[int], None] | None,
        on_dropped: Callable[[int], None] | None,
    ) -> None:
        self.name = name
        self.write = write
        self.queue: asyncio.Queue[Incident] = asyncio.Queue(queue_size)
        self.task: asyncio.Task[None] | None = None
        self.on_written = on_written
        self.on_dropped = on_dropped

    def submit(self, incidents: list[Incident]) -> None:
        dropped = 0
        for incident in incidents:
            try:
                self.queue.put_nowait(incident)
            except asyncio.QueueFull:
                dropped += 1
        if dropped and self.on_dropped is not None:
            self.on_dropped(dropped)

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < 256 and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                await asyncio.to_thread(self.write, batch)
            except Exception as exc:  # a full disk or a lost database: counted, the gateway goes on
                log_event(
                    logging.getLogger("rampart.gateway.audit"),
                    logging.ERROR,
                    "audit_write_failed",
                    sink=self.name,
                    error=f"{type(exc).__name__}: {exc}"[:300],
                )
                if self.on_dropped is not None:
                    self.on_dropped(len(batch))
            else:
                if self.on_written is not None:
                    self.on_written(len(batch))
            for _ in batch:
                self.queue.task_done()


class AuditLog:
    """Bounded queue plus writer task around an :class:`IncidentWriter`, and one more per
    extra sink (``sinks``: name -> :class:`BatchSink`, e.g. the PostgreSQL store). A full
    queue drops incidents and counts them; nothing here ever blocks a request."""

    def __init__(
        self,
        writer: IncidentWriter,
        *,
        queue_size: int = 10_000,
        on_written: Callable[[int], None] | None = None,
        on_dropped: Callable[[int], None] | None = None,
        sinks: dict[str, BatchSink] | None = None,
        on_sink_dropped: Callable[[str, int], None] | None = None,
    ) -> None:
        self.writer = writer
        self.sinks = dict(sinks or {})
        self._lanes = [_Lane("file", self._write_batch, queue_size, on_written, on_dropped)]
        for name, sink in self.sinks.items():
            dropped = (lambda n, _name=name: on_sink_dropped(_name, n)) if on_sink_dropped else None
            self._lanes.append(_Lane(name, sink.write_batch, queue_size, None, dropped))

    def start(self) -> None:
        for lane in self._lanes:
            lane.task = asyncio.create_task(lane.run(), name=f"rampart-audit-{lane.name}")

    def submit(self, incidents: list[Incident]) -> None:
        for lane in self._lanes:
            lane.submit(incidents)

    def _write_batch(self, batch: list[Incident]) -> None:
        for incident in batch:
            self.writer.write(incident)

    async def flush(self) -> None:
        """Wait until everything submitted so far is written."""
        for lane in self._lanes:
            await lane.queue.join()

    async def close(self) -> None:
        for lane in self._lanes:
            if lane.task is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lane.queue.join(), 5.0)
                lane.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lane.task
        self.writer.close()
        for sink in self.sinks.values():
            sink.close()
