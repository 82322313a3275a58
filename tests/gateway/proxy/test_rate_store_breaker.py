"""The rate-limit store behind its circuit breaker: a hung Redis (a loopback socket that
accepts and never answers) costs a few timeouts, not one per request; the real Redis closes
the breaker again."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from rampart.gateway.config import RateLimitSettings
from rampart.gateway.proxy.ratelimit import CircuitBreaker, RateLimiter, RedisStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _state(breaker: CircuitBreaker) -> str:
    return breaker.state


def test_breaker_opens_probes_and_closes() -> None:
    clock = Clock()
    changes: list[tuple[str, str]] = []
    breaker = CircuitBreaker(
        failures=3, reset=5.0, clock=clock, on_change=lambda a, b: changes.append((a, b))
    )
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    assert _state(breaker) == "closed"
    assert breaker.allow()
    breaker.failure()
    assert _state(breaker) == "open"
    assert not breaker.allow()
    clock.now = 4.9
    assert not breaker.allow()
    clock.now = 5.0
    assert breaker.allow()  # the one probe
    assert _state(breaker) == "half_open"
    assert not breaker.allow()  # others wait for it
    breaker.failure()
    assert _state(breaker) == "open"
    clock.now = 10.0
    assert breaker.allow()
    breaker.success()
    assert _state(breaker) == "closed"
    assert changes == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failures=2, reset=1.0, clock=Clock())
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert _state(breaker) == "closed"


def test_zero_failures_never_opens() -> None:
    breaker = CircuitBreaker(failures=0, reset=1.0, clock=Clock())
    for _ in range(100):
        breaker.failure()
    assert breaker.allow()


@pytest.fixture
async def hung_redis() -> AsyncIterator[str]:
    """A loopback server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for writer in held:
            writer.close()
        server.close()


RULE = {"name": "api", "limit": 1000, "window": 60, "key_by": ["client"]}


def _limiter(url: str, *, fail_open: bool = True, failures: int = 3) -> tuple[RateLimiter, list[int]]:
    settings = RateLimitSettings.model_validate(
        {
            "enabled": True,
            "store": url,
            "rules": [RULE],
            "fail_open": fail_open,
            "breaker_failures": failures,
            "key_prefix": f"rmp-hd-{uuid.uuid4().hex[:8]}:",
        }
    )
    counts = [0, 0]  # errors, skipped

    def error(_exc: Exception) -> None:
        counts[0] += 1

    def skip() -> None:
        counts[1] += 1

    store = RedisStore(url, connect_timeout=0.2, socket_timeout=0.2)
    breaker = CircuitBreaker(failures=failures, reset=60)
    return RateLimiter(settings, store, on_error=error, on_skip=skip, breaker=breaker), counts


@pytest.mark.parametrize("fail_open", [True, False])
async def test_a_hung_store_costs_a_few_timeouts_not_one_per_request(
    hung_redis: str, fail_open: bool
) -> None:
    limiter, counts = _limiter(hung_redis, fail_open=fail_open)
    try:
        start = time.monotonic()
        quotas = [await limiter.check("10.0.0.1", "GET", "/x") for _ in range(50)]
        elapsed = time.monotonic() - start
    finally:
        await limiter.close()
    assert counts == [3, 47]
    assert limiter.breaker is not None
    assert limiter.breaker.state == "open"
    assert elapsed < 3 * 0.2 + 1.0  # three timeouts, then no waiting
    if fail_open:
        assert quotas == [None] * 50
    else:
        assert all(q is not None and not q.allowed for q in quotas)


async def test_without_a_breaker_every_request_waits(hung_redis: str) -> None:
    """The behaviour the breaker removes (kept small: 4 requests)."""
    limiter, counts = _limiter(hung_redis, failures=0)
    try:
        start = time.monotonic()
        for _ in range(4):
            await limiter.check("10.0.0.1", "GET", "/x")
        elapsed = time.monotonic() - start
    finally:
        await limiter.close()
    assert counts == [4, 0]
    assert elapsed >= 4 * 0.2 * 0.9


@pytest.mark.services
async def test_the_real_redis_answers_and_keeps_the_breaker_closed(redis_url: str) -> None:
    limiter, counts = _limiter(redis_url)
    try:
        assert await limiter.check_store() is None
        quota = await limiter.check("10.0.0.2", "GET", "/x")
    finally:
        await limiter.close()
    assert quota is not None
    assert (quota.allowed, quota.remaining) == (True, 999)
    assert counts == [0, 0]


async def test_gateway_logs_store_reachability_once_and_each_state_change(
    make_gateway, client, hung_redis: str, caplog
) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway")
    gw = await make_gateway(
        rate_limit={
            "enabled": True,
            "store": hung_redis,
            "rules": [RULE],
            "socket_timeout": 0.2,
            "connect_timeout": 0.2,
            "breaker_reset": 60,
        }
    )
    for _ in range(20):
        async with client.get(gw.url + "/x") as resp:
            assert resp.status == 200  # fails open
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway" and r.levelno >= logging.INFO]
    assert len([m for m in lines if m.startswith("rate_store_unreachable")]) == 1
    assert [m.split()[1] for m in lines if m.startswith("rate_store_breaker")] == ["state=open"]
    metrics = gw.gateway.metrics.render().decode()
    assert 'rampart_gateway_rate_store_breaker_total{state="open"} 1.0' in metrics
    # the start-up ping and two requests failed (three in a row): the other 18 skipped the store
    assert "rampart_gateway_rate_store_errors_total 2.0" in metrics
    assert "rampart_gateway_rate_store_skipped_total 18.0" in metrics


@pytest.mark.services
async def test_gateway_logs_a_reachable_store(make_gateway, redis_url: str, caplog) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    await make_gateway(
        rate_limit={"enabled": True, "store": redis_url, "rules": [RULE], "key_prefix": "rmp-hd-reach:"}
    )
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("rate_store_reachable")]
