"""The shared rate limiter on a real Redis: exact windows, holds, workspace tiers."""

from __future__ import annotations

import asyncio
import time

import redis as redis_lib
import redis.asyncio as aioredis

from queue_services_server.delivery.rate_limiter import Limit, RateLimiter
from queue_services_server.store.keys import KeySpace
from tests.receiver import max_per_window

KEYS = KeySpace("qs")


async def send_through(
    limiters: list[RateLimiter], count: int, workspace: str = "ws-1"
) -> list[float]:
    """`count` sends spread over several limiters (as over several processes); their times."""
    times: list[float] = []

    async def one(limiter: RateLimiter) -> None:
        async with limiter.slot(workspace):
            times.append(time.monotonic())

    await asyncio.gather(*(one(limiters[i % len(limiters)]) for i in range(count)))
    return times


async def test_never_more_than_the_limit_in_any_window(aredis: aioredis.Redis) -> None:
    # Given three limiters sharing one channel's limit of 20 per 500 ms (three "workers")
    limiters = [RateLimiter(aredis, KEYS, "sms", Limit(20, 500)) for _ in range(3)]

    started = time.monotonic()
    times = await send_through(limiters, 70)
    elapsed = time.monotonic() - started

    # Then no 500 ms window holds more than 20, and the limit is used (70 need 3 full windows)
    assert max_per_window(times, 0.5) <= 20
    assert 1.5 <= elapsed < 2.5


async def test_a_hold_stops_all_sends_until_it_ends(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    limiter = RateLimiter(aredis, KEYS, "email", Limit(100))
    seconds, micros = redis.time()
    redis.set(KEYS.rate_hold("email"), seconds * 1000 + micros // 1000 + 400, px=400)

    wait_s = await limiter.try_take("ws-1", "token-1")

    assert 0.2 < wait_s <= 0.4


async def test_a_workspace_tier_is_held_to_its_own_limit(aredis: aioredis.Redis) -> None:
    limiter = RateLimiter(aredis, KEYS, "sms", Limit(100, 500), {"small": Limit(5, 500)})

    small = await send_through([limiter], 12, workspace="small")
    other = await send_through([limiter], 30, workspace="big")

    assert max_per_window(small, 0.5) <= 5
    assert max(other) - min(other) < 0.2  # the tier does not slow other workspaces


async def test_no_limit_means_no_redis_call(aredis: aioredis.Redis, redis: redis_lib.Redis) -> None:
    limiter = RateLimiter(aredis, KEYS, "sms", Limit(0))

    await send_through([limiter], 50)

    assert redis.exists(KEYS.rate("sms")) == 0


async def test_a_slow_send_keeps_its_slot_until_it_completes(aredis: aioredis.Redis) -> None:
    # Given a limit of 1 per 300 ms and a first send that takes 200 ms to complete
    limiter = RateLimiter(aredis, KEYS, "sms", Limit(1, 300))
    started = time.monotonic()
    async with limiter.slot("ws-1"):
        await asyncio.sleep(0.2)

    # When a second send asks for a slot
    async with limiter.slot("ws-1"):
        second = time.monotonic()

    # Then it goes a full window after the first send completed, not after it began
    assert second - started >= 0.2 + 0.3 - 0.01
