"""Summary lines instead of one log line per refused request.

A flood of 429s or rejections must not flood the log. :class:`EventSummary` logs the first
occurrence of an event in each interval in full (so there is always one traceable example,
with its request id), counts the rest by key, and writes one summary line per interval that
saw more: ``rate_limited_summary suppressed=N interval=10s top=api:812,login:17``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from rampart.gateway.audit import log_event

__all__ = ["EventSummary"]

_TOP = 5  # keys named in a summary line


class EventSummary:
    """Per-interval summarising of one event (``rate_limited``, ``rejected``)."""

    def __init__(
        self,
        logger: logging.Logger,
        event: str,
        *,
        interval: float,
        level: int = logging.INFO,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.event = event
        self.interval = interval
        self.level = level
        self._clock = clock
        self._start = clock()
        self._logged = False
        self._suppressed: Counter[str] = Counter()

    def record(self, key: str, **fields: object) -> None:
        """One occurrence: logged in full when it is the interval's first, counted otherwise."""
        if self._clock() - self._start >= self.interval:
            self.flush()
        if not self._logged:
            self._logged = True
            log_event(self.logger, self.level, self.event, **fields)
        else:
            self._suppressed[key[:64]] += 1

    def flush(self) -> None:
        """Write the summary of the interval that ends now (nothing when nothing was
        suppressed) and start the next."""
        total = sum(self._suppressed.values())
        if total:
            top = ",".join(f"{k}:{n}" for k, n in self._suppressed.most_common(_TOP))
            elapsed = max(self._clock() - self._start, 0.0)
            log_event(
                self.logger,
                self.level,
                f"{self.event}_summary",
                suppressed=total,
                keys=len(self._suppressed),
                interval=f"{elapsed:.0f}s",
                top=top,
            )
        self._suppressed.clear()
        self._logged = False
        self._start = self._clock()
