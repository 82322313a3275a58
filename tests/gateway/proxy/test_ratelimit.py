"""Rate limits: window arithmetic, the proxy's 429s and headers, Redis across instances."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from rampart.gateway.config import RateLimitRule, RateLimitSettings
from rampart.gateway.proxy.ratelimit import MemoryStore, RateLimiter, RedisStore
from rampart.procs import spawn


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("sliding", "steps", "expected"),
    [
        # fixed window of 10 s, limit 3: the 4th in the window is refused; a new window resets
        (False, [0, 1, 2, 3, 10, 11], [True, True, True, False, True, True]),
        # sliding: at t=10+5 the previous window's 3 weigh 3*(5/10)=1.5 -> one more fits (2.5);
        # at 15.1 another would make 3.47 > 3; by 19.9 the old window weighs almost nothing
        (True, [0, 1, 2, 3, 15, 15.1, 19.9], [True, True, True, False, True, False, True]),
    ],
)
async def test_memory_store_windows(sliding, steps, expected):
    clock = Clock()
    store = MemoryStore(clock=clock)
    got = []
    for t in steps:
        clock.now = 1000.0 + t
        got.append((await store.apply("k", 3, 10.0, sliding, "hit")).allowed)
    assert got == expected


async def test_peek_and_add_ops():
    store = MemoryStore(clock=Clock())
    assert (await store.apply("k", 2, 60, False, "peek")).count == 0
    await store.apply("k", 2, 60, False, "add")
    await store.apply("k", 2, 60, False, "add")
    result = await store.apply("k", 2, 60, False, "peek")
    assert (result.allowed, result.count) == (False, 2)


@pytest.mark.services
@pytest.mark.parametrize("sliding", [False, True])
async def test_redis_store_counts_atomically(redis_url, sliding):
    # About atomicity, not timeouts: 40 connections opened at once on a loaded machine can take
    # longer than the production default of 250 ms to connect.
    store = RedisStore(redis_url, connect_timeout=5.0, socket_timeout=5.0)
    key = f"rampart:test:{uuid.uuid4().hex}"
    try:
        results = await asyncio.gather(*(store.apply(key, 25, 30.0, sliding, "hit") for _ in range(40)))
    finally:
        await store.close()
    assert sum(r.allowed for r in results) == 25


async def test_proxy_answers_429_with_ratelimit_headers(make_gateway, client):
    rules = [{"name": "tight", "limit": 3, "window": 60, "algorithm": "fixed"}]
    gw = await make_gateway(rate_limit={"enabled": True, "rules": rules})
    statuses = []
    for _ in range(4):
        async with client.get(gw.url + "/x") as resp:
            statuses.append(resp.status)
            headers = resp.headers
    assert statuses == [200, 200, 200, 429]
    assert headers["RateLimit-Limit"] == "3"
    assert headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["RateLimit-Reset"] == headers["Retry-After"]


async def test_rules_apply_per_route_and_method(make_gateway, client):
    rules = [{"name": "login", "path_prefix": "/api/login", "methods": ["POST"], "limit": 1, "window": 60}]
    gw = await make_gateway(rate_limit={"enabled": True, "rules": rules})
    for _ in range(3):
        async with client.get(gw.url + "/api/other") as resp:
            assert resp.status == 200
            assert "RateLimit-Limit" not in resp.headers
    codes = []
    for _ in range(2):
        async with client.post(gw.url + "/api/login", json={"password": "right"}) as resp:
            codes.append(resp.status)
    assert codes == [200, 429]


async def test_only_failed_logins_count_when_configured(make_gateway, client):
    rules = [
        {"name": "login-failures", "path_prefix": "/api/login", "limit": 2, "window": 60, "count": "failed"}
    ]
    gw = await make_gateway(rate_limit={"enabled": True, "rules": rules})
    for _ in range(5):
        async with client.post(gw.url + "/api/login", json={"password": "right"}) as resp:
            assert resp.status == 200  # successes never count
    codes = []
    for _ in range(3):
        async with client.post(gw.url + "/api/login", json={"password": "wrong"}) as resp:
            codes.append(resp.status)
    assert codes == [401, 401, 429]
    async with client.post(gw.url + "/api/login", json={"password": "right"}) as resp:
        assert resp.status == 429  # locked out for the window, even with the right password


async def test_store_failure_fails_open_and_is_counted():
    errors: list[Exception] = []
    settings = RateLimitSettings(enabled=True, rules=(RateLimitRule(name="r", limit=1, window=60),))
    limiter = RateLimiter(settings, RedisStore("redis://127.0.0.1:1/0"), on_error=errors.append)
    try:
        assert await limiter.check("1.2.3.4", "GET", "/") is None
    finally:
        await limiter.close()
    assert errors


@pytest.mark.services
async def test_limits_hold_across_two_gateway_processes(redis_url, upstream):
    prefix = f"rampart:test:{uuid.uuid4().hex}:"
    env = {
        "RAMPART_GATEWAY_RATE_LIMIT__KEY_PREFIX": prefix,
        "RAMPART_GATEWAY_RATE_LIMIT__RULES": (
            '[{"name": "shared", "limit": 5, "window": 60, "algorithm": "fixed"}]'
        ),
    }
    args = [
        "gateway",
        "--upstream",
        upstream.url,
        "--port",
        "0",
        "--engine",
        "testing",
        "--rate-limit-store",
        redis_url,
    ]
    async with spawn(args, env=env) as first, spawn(args, env=env) as second:
        statuses = []
        async with aiohttp.ClientSession() as session:
            for i in range(8):
                url = (first if i % 2 == 0 else second).url
                async with session.get(url + "/x") as resp:
                    statuses.append(resp.status)
    assert statuses == [200] * 5 + [429] * 3
