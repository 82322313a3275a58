"""The guard: judges, installs nothing. One choke point (:meth:`Guard.check`) every sink calls.

``check(sink, operation, detector, argument, **options)`` reads the current request context,
runs the named detector, applies the policy (incident, action, ``ctx.detections``) and raises
:class:`~rampart.inprocess.errors.Blocked` when the decision blocks. Everything else fails open: an
internal error (detector crash, odd argument) is logged and counted in ``Guard.errors`` and the
original call goes ahead.

Without a request context only sink-only detectors run (``ssrf`` for metadata addresses,
``deserialization``); without user input in the context no input-driven detector can fire, so
it is skipped.
"""

from __future__ import annotations

import collections
import contextvars
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rampart.incidents import IncidentWriter
from rampart.inprocess import detectors
from rampart.inprocess.actions import ACTIONS, SessionBlocker, client_keys
from rampart.inprocess.config import SINK_ONLY_DETECTORS, DetectorPolicy, GuardSettings, Mode
from rampart.inprocess.context import RequestContext, current
from rampart.inprocess.detectors import Detection
from rampart.inprocess.errors import Blocked
from rampart.inprocess.findings import GuardDetection, build_incident
from rampart.inprocess.policy import decide
from rampart.inprocess.webhook import WebhookSender

__all__ = [
    "Guard",
    "activate",
    "active",
    "blocked_in",
    "check",
    "deactivate",
    "fail_open",
    "hush",
    "is_quiet",
    "quiet",
    "unhush",
]

log = logging.getLogger("rampart.inprocess.guard")
_active: Guard | None = None
_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("rampart_guard_quiet", default=False)
_NO_INPUTS: tuple[()] = ()
_Plan = tuple[detectors.Detector, dict[str, Any]]
_DISABLED: _Plan = (lambda argument, inputs, **options: None, {})


class _Busy(threading.local):
    """Set while :meth:`Guard.check` runs a detector in this thread. The check is synchronous,
    so a thread-local flag covers it for a fraction of a ContextVar set/reset (which copies
    the context mapping); :func:`quiet` stays a ContextVar because it spans awaits."""

    on = False


_busy = _Busy()
_quiet_get = _quiet.get  # bound C method: no Python frame on the hot path


def is_quiet() -> bool:
    """True inside :func:`quiet` or while the guard itself is judging (nested calls skip)."""
    return _busy.on or _quiet.get()


class quiet:
    """Suppress nested checks: a sink already judged this call, or the guard itself is working
    (a detector importing a module must not trigger the file sink). A class rather than a
    generator-based context manager: it runs on every guarded call."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _quiet.set(True)

    def __exit__(self, *exc: object) -> None:
        _quiet.reset(self._token)


def hush() -> contextvars.Token[bool]:
    """:func:`quiet` for wrappers, without the context-manager object (they run on every
    call): ``token = hush()`` ... ``unhush(token)`` in a ``finally``."""
    return _quiet.set(True)


def unhush(token: contextvars.Token[bool]) -> None:
    _quiet.reset(token)


def active() -> Guard | None:
    """The process's active guard, if one is installed."""
    return _active


def activate(guard: Guard) -> None:
    """Make ``guard`` the one sinks report to (:mod:`rampart.inprocess.install` calls this)."""
    global _active
    if _active is not None and _active is not guard:
        raise RuntimeError("another rampart guard is already installed; uninstall it first")
    _active = guard


def deactivate(guard: Guard) -> None:
    """Stop routing sink calls to ``guard`` (no-op when another guard is active)."""
    global _active
    if _active is guard:
        _active = None


def fail_open(where: str, exc: BaseException) -> None:
    """Count an internal error of a sink (extraction, bookkeeping) on the active guard; the
    original call goes ahead."""
    guard = _active
    if guard is not None:
        guard.fail_open(where, exc)
    else:
        log.debug("rampart: error at %s with no active guard", where, exc_info=exc)


def check(
    sink: str,
    operation: str,
    detector: str,
    argument: Any,
    *,
    inputs: Sequence[Any] | None = None,
    **options: Any,
) -> Detection | None:
    """Module-level choke point for sinks: a no-op when no guard is installed."""
    guard = _active
    if guard is None:
        return None
    return guard.check(sink, operation, detector, argument, inputs=inputs, **options)


def blocked_in(ctx: RequestContext) -> GuardDetection | None:
    """The first blocking detection of this request, if any."""
    for found in ctx.detections:
        if isinstance(found, GuardDetection) and found.blocked:
            return found
    return None


class Guard:
    """Policy, incident sink and counters of one guard (:mod:`rampart.inprocess.install` patches
    the sinks and makes it active)."""

    def __init__(
        self,
        settings: GuardSettings,
        *,
        incidents_path: str | Path | None = None,
        harness: bool = False,
    ) -> None:
        self.settings = settings
        self.harness = harness
        self.writer = IncidentWriter(incidents_path)
        self.sessions = SessionBlocker(settings.block_session_seconds)
        self.webhook: WebhookSender | None = (
            WebhookSender(settings.webhook) if settings.webhook.url is not None else None
        )
        self.errors = 0
        self.recent_errors: collections.deque[str] = collections.deque(maxlen=50)
        self.checks = 0
        self.detections = 0
        self._lock = threading.Lock()
        self._policies: dict[str, DetectorPolicy] = {}
        self._plans: dict[str, _Plan] = {}

    def policy(self, detector: str) -> DetectorPolicy:
        """The (cached) policy for ``detector``."""
        found = self._policies.get(detector)
        if found is None:
            found = self._policies[detector] = self.settings.policy_for(detector)
        return found

    def _plan(self, detector: str) -> _Plan:
        """What :meth:`check` runs for ``detector`` (function and preset options), resolved
        once: one dict lookup per call instead of policy, registry and options lookups."""
        policy = self.policy(detector)
        plan: _Plan = (detectors.get(detector), dict(policy.options)) if policy.enabled else _DISABLED
        self._plans[detector] = plan
        return plan

    @property
    def mode(self) -> Mode:
        return self.settings.mode

    # -- the choke point -------------------------------------------------------------

    def check(
        self,
        sink: str,
        operation: str,
        detector: str,
        argument: Any,
        *,
        inputs: Sequence[Any] | None = None,
        **options: Any,
    ) -> Detection | None:
        """Judge one sink call; ``inputs`` replaces the request's user input (``stored_xss``
        judges against ``ctx.db_values``). Raises :class:`Blocked` when the policy blocks."""
        busy = _busy
        if busy.on or _quiet_get() or self.settings.mode == "off":
            return None
        ctx = current()
        if inputs is None:
            inputs = ctx.inputs if ctx is not None else _NO_INPUTS
        if not inputs and detector not in SINK_ONLY_DETECTORS:
            return None
        found: GuardDetection | None = None
        busy.on = True
        try:
            self.checks += 1
            plan = self._plans.get(detector) or self._plan(detector)
            if plan is _DISABLED:
                return None
            run, preset = plan
            if preset:
                options = {**preset, **options}
            detection = run(argument, inputs, **options) if options else run(argument, inputs)
            if detection is None:
                return None
            policy = self.policy(detector)
            found = GuardDetection(detection, decide(self.settings, detection, policy), sink, operation)
            self._record(found, ctx)
        except Exception as exc:
            self._fail_open(sink, operation, detector, exc)
            return None
        finally:
            busy.on = False
        if found is not None and found.blocked:
            raise Blocked(
                found.detection,
                sink=sink,
                operation=operation,
                incident=ctx.request_id if ctx is not None else "-",
            )
        return found.detection if found is not None else None

    def _record(self, found: GuardDetection, ctx: RequestContext | None) -> None:
        if ctx is not None:
            if any(isinstance(o, GuardDetection) and o.same_finding(found) for o in ctx.detections):
                if found.blocked:
                    ctx.detections.append(found)
                return
            ctx.detections.append(found)
        with self._lock:
            self.detections += 1
        self.writer.write(build_incident(found, ctx))
        ACTIONS[found.decision.action](self, found, ctx)
        log.warning(
            "rampart %s: %s at %s.%s (%s)",
            found.decision.action.value,
            found.detection.attack_class,
            found.sink,
            found.operation,
            ctx.request_id if ctx is not None else "-",
        )

    def _fail_open(self, sink: str, operation: str, detector: str, exc: BaseException) -> None:
        with self._lock:
            self.errors += 1
            self.recent_errors.append(f"{sink}.{operation}/{detector}: {type(exc).__name__}: {exc}")
        log.error("rampart guard error at %s.%s (%s), failing open", sink, operation, detector, exc_info=exc)

    def fail_open(self, where: str, exc: BaseException) -> None:
        """Count an internal error raised outside :meth:`check` (a sink's own extraction)."""
        self._fail_open(where, "extract", "-", exc)

    # -- client bans -----------------------------------------------------------------

    def client_banned(self, ctx: RequestContext) -> bool:
        return (
            self.settings.mode == "block"
            and self.sessions.active()
            and self.sessions.banned(client_keys(ctx, self.settings.session_cookie))
        )

    def close(self) -> None:
        """Release the incident writer and the webhook sender (after
        :func:`rampart.inprocess.install.deactivate`)."""
        if self.webhook is not None:
            self.webhook.close()
        self.writer.close()
