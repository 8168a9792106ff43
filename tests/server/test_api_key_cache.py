"""A key found valid is trusted for API_KEY_CACHE_MS when no per-key limit needs each request
counted in Redis: revoked here it is refused at once, revoked elsewhere within the cache's time;
with a limit, every request still goes to Redis."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from queue_services_server.store.api_keys import ApiKeyStore
from queue_services_server.store.keys import KeySpace

KEYS = KeySpace("qs")


async def valid(store: ApiKeyStore, token: str, *, limit: int = 0) -> bool:
    result = await store.authenticate(token, bootstrap_key="boot", limit=limit, window_ms=1000)
    return result.key is not None


async def test_a_key_revoked_by_another_process_is_refused_within_the_cache_time(
    aredis: aioredis.Redis,
) -> None:
    # Given two API processes' stores, one of which has just checked a key
    here = ApiKeyStore(aredis, KEYS, cache_ms=300)
    elsewhere = ApiKeyStore(aredis, KEYS, cache_ms=300)
    token, key = await here.create(workspace_id="ws-a")
    assert await valid(here, token)

    # When the other revokes it
    assert await elsewhere.revoke(key.id)

    # Then it works here until the cache's time is up, and not after; the other refuses it now
    assert not await valid(elsewhere, token)
    assert await valid(here, token)
    await asyncio.sleep(0.35)
    assert not await valid(here, token)


async def test_a_key_revoked_by_this_process_is_refused_at_once(aredis: aioredis.Redis) -> None:
    store = ApiKeyStore(aredis, KEYS, cache_ms=60_000)
    token, key = await store.create(workspace_id=None)
    assert await valid(store, token)
    await store.revoke(key.id)
    assert not await valid(store, token)


async def test_a_cached_id_with_the_wrong_secret_is_refused(aredis: aioredis.Redis) -> None:
    store = ApiKeyStore(aredis, KEYS, cache_ms=60_000)
    token, _ = await store.create(workspace_id="ws-a")
    assert await valid(store, token)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert not await valid(store, forged)


async def test_with_a_per_key_limit_every_request_asks_redis(aredis: aioredis.Redis) -> None:
    # Given a key checked under a per-key limit (each request must be counted)
    here = ApiKeyStore(aredis, KEYS, cache_ms=60_000)
    token, key = await here.create(workspace_id="ws-a")
    assert await valid(here, token, limit=100)

    # When another process revokes it, it is refused here at once
    await ApiKeyStore(aredis, KEYS).revoke(key.id)
    assert not await valid(here, token, limit=100)
