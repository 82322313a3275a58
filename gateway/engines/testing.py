"""A tiny engine for tests and benchmarks: flags configurable literals.

It ships with the package so the proxy's tests (and anyone else's) can exercise every
verdict path without the real rule engines. Each literal found (case-insensitive) in the
decoded request target, a header value or the body adds ``score_per_match``; at or above
the threshold the verdict is flagged (the gateway blocks it in block mode).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from urllib.parse import unquote_to_bytes

from rampart.gateway.model import EngineSettings, RawRequest, RuleMatch, Verdict

__all__ = ["DEFAULT_LITERALS", "LiteralEngine"]

DEFAULT_LITERALS: tuple[str, ...] = ("<script", "' or '1'='1", "$ne", "../", "rmp-test-attack")


class LiteralEngine:
    """Flags literals. ``raise_on`` makes ``inspect`` raise when it appears (fail-open tests);
    ``delay`` burns that many seconds per request (slow-engine tests); ``slow``, when given, tells
    the proxy where to run it (``True``: off the event loop).

    For worker-process tests: ``spin_on`` makes ``inspect`` spin (a busy loop that never checks
    a budget, at most ``spin_seconds``) when that literal is in the body, so an overrun is
    certain without measuring time; ``exit_on`` makes the *worker process* exit at once (a
    crash); in any other process it raises instead, so a test cannot kill itself."""

    slow: bool

    def __init__(
        self,
        settings: EngineSettings,
        *,
        literals: tuple[str, ...] = DEFAULT_LITERALS,
        score_per_match: int = 5,
        raise_on: str | None = "rmp-test-crash",
        delay: float = 0.0,
        slow: bool | None = None,
        name: str = "testing",
        spin_on: str | None = None,
        spin_seconds: float = 60.0,
        exit_on: str | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.literals = tuple(lit.lower() for lit in literals)
        self.score_per_match = score_per_match
        self.raise_on = raise_on.lower() if raise_on else None
        self.delay = delay
        self.spin_on = spin_on.encode() if spin_on else None
        self.spin_seconds = spin_seconds
        self.exit_on = exit_on.encode() if exit_on else None
        if slow is not None:  # left unset, the proxy judges by measured inspection time
            self.slow = slow
        self.inspected = 0
        self.last: RawRequest | None = None

    def _targets(self, request: RawRequest) -> list[tuple[str, str]]:
        body = request.body[: self.settings.body_limit]
        return [
            ("REQUEST_URI", unquote_to_bytes(request.target.replace("+", " ")).decode("utf-8", "replace")),
            *((f"REQUEST_HEADERS:{k.lower()}", v) for k, v in request.headers),
            ("REQUEST_BODY", body.decode("utf-8", "replace")),
        ]

    def inspect(self, request: RawRequest) -> Verdict:
        start = time.perf_counter()
        self.inspected += 1
        self.last = request
        if self.delay:
            deadline = start + self.delay
            while time.perf_counter() < deadline:
                pass
        if self.exit_on is not None and self.exit_on in request.body:
            if multiprocessing.parent_process() is None:
                raise RuntimeError("testing engine asked to exit outside a worker process")
            os._exit(70)
        if self.spin_on is not None and self.spin_on in request.body:
            end = start + self.spin_seconds
            while time.perf_counter() < end:
                pass
        matches: list[RuleMatch] = []
        for target, value in self._targets(request):
            low = value.lower()
            if self.raise_on and self.raise_on in low:
                raise RuntimeError("testing engine asked to crash")
            for index, literal in enumerate(self.literals):
                pos = low.find(literal)
                if pos >= 0:
                    matches.append(
                        RuleMatch(
                            rule_id=f"T{100 + index}",
                            attack_class="anomaly",
                            message=f"literal {literal!r}",
                            severity="critical",
                            score=self.score_per_match,
                            target=target,
                            matched=value[max(0, pos - 40) : pos + len(literal) + 40],
                        )
                    )
        return Verdict(
            engine=self.name,
            score=sum(m.score for m in matches),
            threshold=self.settings.threshold,
            matches=tuple(matches),
            elapsed_us=(time.perf_counter() - start) * 1e6,
        )

    def close(self) -> None:
        """Nothing to release."""
