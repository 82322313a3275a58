"""Slack-compatible webhook notifications (``{"text": ...}``), posted off the request path.

A daemon thread runs its own event loop draining a bounded :class:`asyncio.Queue`; the
request path only does a non-blocking enqueue. When the queue is full the message is dropped
and counted (``dropped``); failed posts are retried with exponential backoff and counted
(``failed``) once retries are exhausted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from concurrent.futures import Future

import aiohttp

from rampart.inprocess.config import WebhookSettings

__all__ = ["WebhookSender"]

log = logging.getLogger(__name__)
_STOP = object()


class WebhookSender:
    def __init__(self, settings: WebhookSettings) -> None:
        if settings.url is None:
            raise ValueError("webhook.url is required to send webhooks")
        self.settings = settings
        self.url: str = settings.url
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._pending = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[object] | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._done: Future[None] = Future()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="rampart-webhook", daemon=True)
            self._thread.start()
        self._ready.wait(5.0)

    def submit(self, text: str) -> bool:
        """Queue ``text`` for posting; never blocks. False when dropped (queue full)."""
        if self._thread is None:
            self.start()
        with self._lock:
            if self._pending >= self.settings.queue_size or self._loop is None or self._queue is None:
                self.dropped += 1
                return False
            self._pending += 1
            loop, queue = self._loop, self._queue
        loop.call_soon_threadsafe(queue.put_nowait, text)
        return True

    @property
    def pending(self) -> int:
        return self._pending

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (bounded by ``timeout``), then stop the thread."""
        with self._lock:
            loop, queue, thread = self._loop, self._queue, self._thread
        if loop is None or queue is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, _STOP)
        thread.join(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main(loop))
        finally:
            loop.close()

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        queue: asyncio.Queue[object] = asyncio.Queue()
        with self._lock:
            self._loop, self._queue = loop, queue
        self._ready.set()
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                item = await queue.get()
                if item is _STOP:
                    break
                try:
                    await self._post(session, str(item))
                finally:
                    with self._lock:
                        self._pending -= 1
        with self._lock:
            self._loop = None

    async def _post(self, session: aiohttp.ClientSession, text: str) -> None:
        delay = self.settings.backoff_seconds
        for attempt in range(self.settings.retries + 1):
            try:
                async with session.post(self.url, json={"text": text}) as resp:
                    if resp.status < 300:
                        self.sent += 1
                        return
                    reason = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                reason = type(exc).__name__
            if attempt < self.settings.retries:
                await asyncio.sleep(delay)
                delay *= 2
        self.failed += 1
        log.warning("rampart webhook: giving up after %d attempts (%s)", self.settings.retries + 1, reason)
