"""What the guard does beyond recording an incident, one handler per :class:`Action`.

``log`` and ``block`` need nothing more here (the incident is written by the guard and
``block`` raises :class:`rampart.inprocess.errors.Blocked` at the sink). ``block_session`` bans the
client (its IP and, when present, its session cookie) for a while; the framework middleware
refuses further requests from it. ``webhook`` queues a Slack-compatible message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from rampart.inprocess.config import Action, GuardSettings
from rampart.inprocess.context import RequestContext
from rampart.inprocess.findings import GuardDetection
from rampart.inprocess.webhook import WebhookSender

__all__ = ["ACTIONS", "SessionBlocker", "client_keys"]


def client_keys(ctx: RequestContext, cookie_name: str) -> list[str]:
    """The keys a client is banned under: ``ip:<addr>`` and ``cookie:<session>``."""
    keys = [f"ip:{ctx.client_ip}"] if ctx.client_ip else []
    wanted = f"cookie.{cookie_name}"
    keys.extend(f"cookie:{item.value}" for item in ctx.inputs if item.source == wanted and item.value)
    return keys


@dataclass
class SessionBlocker:
    """Client bans with expiry; bounded so a flood of keys cannot grow it without limit."""

    seconds: float
    max_entries: int = 100_000

    def __post_init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def ban(self, keys: Iterable[str], now: float | None = None) -> None:
        until = (time.monotonic() if now is None else now) + self.seconds
        with self._lock:
            if len(self._until) >= self.max_entries:
                self._expire(time.monotonic())
            for key in keys:
                if len(self._until) < self.max_entries:
                    self._until[key] = until

    def active(self) -> bool:
        """Whether any ban is recorded (expired ones included): the cheap pre-check."""
        return bool(self._until)

    def banned(self, keys: Iterable[str], now: float | None = None) -> bool:
        if not self._until:
            return False
        t = time.monotonic() if now is None else now
        with self._lock:
            for key in keys:
                until = self._until.get(key)
                if until is not None:
                    if until > t:
                        return True
                    del self._until[key]
        return False

    def _expire(self, now: float) -> None:
        for key in [k for k, u in self._until.items() if u <= now]:
            del self._until[key]


class GuardState(Protocol):
    """What an action needs of the guard (the guard itself satisfies it; naming the class
    here would tie this module and ``rampart.inprocess.guard`` in a circle)."""

    @property
    def settings(self) -> GuardSettings: ...

    @property
    def sessions(self) -> SessionBlocker: ...

    @property
    def webhook(self) -> WebhookSender | None: ...


def _nothing(guard: GuardState, found: GuardDetection, ctx: RequestContext | None) -> None:
    return None


def _block_session(guard: GuardState, found: GuardDetection, ctx: RequestContext | None) -> None:
    if ctx is not None:
        guard.sessions.ban(client_keys(ctx, guard.settings.session_cookie))


def _webhook(guard: GuardState, found: GuardDetection, ctx: RequestContext | None) -> None:
    sender = guard.webhook
    if sender is None:
        return
    d = found.detection
    rid = ctx.request_id if ctx is not None else "-"
    sender.submit(
        f"rampart sink guard: {d.attack_class} at {found.sink}.{found.operation} "
        f"(detector {d.detector}, confidence {d.confidence:.2f}, request {rid})"
    )


ACTIONS: dict[Action, Callable[[GuardState, GuardDetection, RequestContext | None], None]] = {
    Action.LOG: _nothing,
    Action.BLOCK: _nothing,
    Action.BLOCK_SESSION: _block_session,
    Action.WEBHOOK: _webhook,
}
