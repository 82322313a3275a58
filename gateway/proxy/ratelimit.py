"""Rate limits per client and route, fixed or sliding window, in memory or in Redis.

A store answers one question atomically: given a key, a limit and a window, is one more
request allowed, and how full is the window (``hit``: count it if allowed; ``peek``: do not
count; ``add``: count it regardless, used to record a failed login after the fact). The
sliding window is the two-bucket counter (previous window weighted by the part of it still
inside the window), which needs O(1) state per key.

The Redis store does all of it in one Lua script using the server's clock, so every
gateway instance sharing the Redis sees the same counts and the same windows. Its connect and
socket timeouts are configurable, and a :class:`CircuitBreaker` in front of the store stops a
hung or unreachable Redis from costing every request a timeout: after ``breaker_failures``
consecutive failures it opens (requests fail open, or closed, without touching the store),
after ``breaker_reset`` seconds one request probes (half-open), and a success closes it.
Each state change is one log line; single failures are only counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from rampart.gateway.config import RateLimitRule, RateLimitSettings

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "MemoryStore",
    "Op",
    "Quota",
    "RateLimiter",
    "RateStore",
    "RedisStore",
    "StoreResult",
    "create_store",
    "quota_headers",
]

Op = Literal["hit", "peek", "add"]
BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class StoreResult:
    allowed: bool
    count: float  # weighted requests in the window, after this operation
    reset: float  # seconds until the current window ends


@dataclass(frozen=True, slots=True)
class Quota:
    """The most restrictive applicable limit after this request."""

    rule: str
    allowed: bool
    limit: int
    remaining: int
    reset: int  # whole seconds


class RateStore(Protocol):
    async def apply(self, key: str, limit: int, window: float, sliding: bool, op: Op) -> StoreResult: ...

    async def ping(self) -> None:
        """Raise when the store cannot be reached."""

    async def close(self) -> None: ...


class CircuitBreaker:
    """Closed -> open after ``failures`` consecutive failures; open -> half-open once
    ``reset`` seconds have passed (one caller probes; the others keep being refused until it
    reports); half-open -> closed on success, back to open on failure. ``on_change(old, new)``
    is called once per state change. ``failures=0`` never opens."""

    def __init__(
        self,
        *,
        failures: int,
        reset: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self.failures = failures
        self.reset = reset
        self.state: BreakerState = "closed"
        self._clock = clock
        self._on_change = on_change
        self._count = 0
        self._opened_at = 0.0
        self._probing = False

    def _set(self, state: BreakerState) -> None:
        if state != self.state:
            old, self.state = self.state, state
            if self._on_change is not None:
                self._on_change(old, state)

    def allow(self) -> bool:
        """May this call reach the store?"""
        if self.state == "closed":
            return True
        if self.state == "open" and self._clock() - self._opened_at >= self.reset:
            self._set("half_open")
            self._probing = False
        if self.state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        self._count = 0
        self._probing = False
        self._set("closed")

    def failure(self) -> None:
        self._count += 1
        self._probing = False
        if self.state == "half_open" or (self.failures and self._count >= self.failures):
            self._opened_at = self._clock()
            self._set("open")


class MemoryStore:
    """Per-process counters (one gateway instance). Bounded: old windows are pruned."""

    def __init__(self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self._buckets: dict[str, tuple[int, int, int]] = {}  # key -> (window index, current, previous)
        self._max_keys = max_keys
        self._clock = clock

    def _prune(self, now: float) -> None:
        stale = [k for k, (idx, _, _) in self._buckets.items() if idx < int(now // 1) - 86_400]
        for k in stale:
            del self._buckets[k]
        if len(self._buckets) >= self._max_keys:
            for k in list(self._buckets)[: self._max_keys // 10]:
                del self._buckets[k]

    async def apply(self, key: str, limit: int, window: float, sliding: bool, op: Op) -> StoreResult:
        now = self._clock()
        idx = int(now // window)
        elapsed = now - idx * window
        stored = self._buckets.get(key)
        if stored is None:
            if len(self._buckets) >= self._max_keys:
                self._prune(now)
            cur = prev = 0
        elif stored[0] == idx:
            cur, prev = stored[1], stored[2]
        elif stored[0] == idx - 1:
            cur, prev = 0, stored[1]
        else:
            cur = prev = 0
        weighted = prev * (window - elapsed) / window + cur if sliding else float(cur)
        allowed = weighted + 1 <= limit
        if op == "add" or (op == "hit" and allowed):
            cur += 1
            weighted += 1
        self._buckets[key] = (idx, cur, prev)
        return StoreResult(allowed, weighted, window - elapsed)

    async def ping(self) -> None:
        """Always reachable."""

    async def close(self) -> None:
        self._buckets.clear()


_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local op = ARGV[4]
local idx = math.floor(now / w)
local elapsed = now - idx * w
local cur_key = KEYS[1] .. ':' .. string.format('%d', idx)
local weighted = tonumber(redis.call('GET', cur_key) or '0')
if ARGV[3] == '1' then
  local prev = tonumber(redis.call('GET', KEYS[1] .. ':' .. string.format('%d', idx - 1)) or '0')
  weighted = prev * (w - elapsed) / w + weighted
end
local allowed = 0
if weighted + 1 <= limit then allowed = 1 end
if op == 'add' or (op == 'hit' and allowed == 1) then
  redis.call('INCR', cur_key)
  redis.call('PEXPIRE', cur_key, math.ceil(w * 2000))
  weighted = weighted + 1
end
return {allowed, tostring(weighted), tostring(w - elapsed)}
"""


class RedisStore:
    """Counters in Redis (``redis.asyncio``), one atomic Lua call per check; a call waits at
    most ``connect_timeout`` to connect and ``socket_timeout`` for the answer."""

    def __init__(self, url: str, *, connect_timeout: float = 0.25, socket_timeout: float = 0.25) -> None:
        import redis.asyncio as aioredis

        self._client: Any = aioredis.Redis.from_url(
            url, socket_connect_timeout=connect_timeout, socket_timeout=socket_timeout
        )
        self._script: Any = self._client.register_script(_LUA)

    async def ping(self) -> None:
        await self._client.ping()

    async def apply(self, key: str, limit: int, window: float, sliding: bool, op: Op) -> StoreResult:
        allowed, count, reset = await self._script(
            keys=[key], args=[limit, window, "1" if sliding else "0", op]
        )
        return StoreResult(bool(int(allowed)), float(count), float(reset))

    async def close(self) -> None:
        await self._client.aclose()


def create_store(url: str, *, connect_timeout: float = 0.25, socket_timeout: float = 0.25) -> RateStore:
    """``memory`` or a Redis URL."""
    if url == "memory":
        return MemoryStore()
    return RedisStore(url, connect_timeout=connect_timeout, socket_timeout=socket_timeout)


def _quota(rule: RateLimitRule, result: StoreResult) -> Quota:
    return Quota(
        rule=rule.name,
        allowed=result.allowed,
        limit=rule.limit,
        remaining=max(0, math.floor(rule.limit - result.count)),
        reset=max(1, math.ceil(result.reset)),
    )


def _tighter(a: Quota | None, b: Quota) -> Quota:
    if a is None:
        return b
    if a.allowed != b.allowed:
        return a if not a.allowed else b
    return a if (a.remaining, -a.reset) <= (b.remaining, -b.reset) else b


class RateLimiter:
    """Applies the configured rules. Store failures fail open (or closed) and are reported
    through ``on_error``; calls the breaker refuses are counted through ``on_skip`` and
    fail the same way, without waiting for the store."""

    def __init__(
        self,
        settings: RateLimitSettings,
        store: RateStore,
        *,
        on_error: Callable[[Exception], None] | None = None,
        on_skip: Callable[[], None] | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.breaker = breaker
        self._on_error = on_error
        self._on_skip = on_skip

    async def check_store(self) -> Exception | None:
        """Ping the store once (at start); the failure, or None when it answered."""
        try:
            await self.store.ping()
        except Exception as exc:
            if self.breaker is not None:
                self.breaker.failure()
            return exc
        return None

    def _failed(self, rule: RateLimitRule) -> Quota | None:
        if self.settings.fail_open:
            return None
        return Quota(rule.name, False, rule.limit, 0, math.ceil(rule.window))

    def _key(self, rule: RateLimitRule, client: str, method: str, path: str) -> str:
        parts = {"client": client, "path": path[:256], "method": method}
        return self.settings.key_prefix + rule.name + ":" + "|".join(parts[p] for p in rule.key_by)

    async def _apply(self, rule: RateLimitRule, key: str, op: Op) -> Quota | None:
        breaker = self.breaker
        if breaker is not None and not breaker.allow():
            if self._on_skip is not None:
                self._on_skip()
            return self._failed(rule)
        try:
            result = await self.store.apply(key, rule.limit, rule.window, rule.algorithm == "sliding", op)
        except Exception as exc:  # any store failure: the gateway keeps serving
            if breaker is not None:
                breaker.failure()
            if self._on_error is not None:
                self._on_error(exc)
            return self._failed(rule)
        if breaker is not None:
            breaker.success()
        return _quota(rule, result)

    async def check(self, client: str, method: str, path: str) -> Quota | None:
        """Count this request against every matching rule (``failed`` rules are only
        peeked); the tightest quota, denied if any rule denies."""
        tightest: Quota | None = None
        for rule in self.settings.rules:
            if not rule.applies(method, path):
                continue
            quota = await self._apply(
                rule, self._key(rule, client, method, path), "peek" if rule.count == "failed" else "hit"
            )
            if quota is not None:
                tightest = _tighter(tightest, quota)
        return tightest

    async def record_status(self, client: str, method: str, path: str, status: int) -> None:
        """Count a finished request against ``failed`` rules when its status is a failure."""
        for rule in self.settings.rules:
            if rule.count == "failed" and status in rule.failed_statuses and rule.applies(method, path):
                await self._apply(rule, self._key(rule, client, method, path), "add")

    async def close(self) -> None:
        await self.store.close()


def quota_headers(quota: Quota) -> dict[str, str]:
    """``RateLimit-*`` headers (IETF draft), plus ``Retry-After`` when denied."""
    headers = {
        "RateLimit-Limit": str(quota.limit),
        "RateLimit-Remaining": str(quota.remaining),
        "RateLimit-Reset": str(quota.reset),
    }
    if not quota.allowed:
        headers["Retry-After"] = str(quota.reset)
    return headers
