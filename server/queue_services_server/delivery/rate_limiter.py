"""The shared rate limiter: at most N sends in any window per channel (and per workspace tier),
held across every worker process on every host by one Lua script on Redis's clock.

Chosen over the alternatives because it must (a) never let more than N sends fall in ANY window,
which rules out fixed windows (BullMQ's limiter lets up to 2N through across a boundary); (b) say
how long to wait instead of raising, which Dramatiq's limiters do (they hand the message to its
retries, 15 s minimum backoff, and cannot pace a steady 50/s); (c) use one clock for every host,
which a limiter timing itself with each host's `time.time()` (the `limits` library's moving
window) does not; (d) count a send at the time it reached the provider, not only when it was
allowed: a slot is logged when taken and moved to the send's completion when it is done (see
rate_limit.lua), so one slow request cannot put N + 1 sends in a second at the provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis

from queue_services_server.store.connection import StoreUnavailableError, translate_redis_errors
from queue_services_server.store.jobs import load_script
from queue_services_server.store.keys import KeySpace

_tokens = itertools.count()


@dataclass(frozen=True)
class Limit:
    """At most `count` sends in any `window_ms`; `count` 0 means no limit."""

    count: int
    window_ms: int = 1000


class RateLimiter:
    """Paces the sends of one channel, optionally per workspace too."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: KeySpace,
        channel: str,
        limit: Limit,
        workspace_limits: dict[str, Limit] | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self.channel = channel
        self.limit = limit
        self._workspace_limits = workspace_limits or {}
        self._script = load_script(redis, "rate_limit.lua")

    def _keys_for(self, workspace_id: str) -> list[str]:
        keys = [self._keys.rate(self.channel), self._keys.rate_hold(self.channel)]
        if workspace_id in self._workspace_limits:
            keys.append(self._keys.rate(self.channel, workspace_id))
        return keys

    def limited(self, workspace_id: str) -> bool:
        """Whether sends of this workspace are limited at all."""
        return self.limit.count > 0 or workspace_id in self._workspace_limits

    async def try_take(self, workspace_id: str, token: str) -> float:
        """Take a slot for one send now if there is one: 0.0, else the seconds to wait."""
        channel_count = self.limit.count if self.limit.count > 0 else 2**31
        args: list[int | str] = ["take", token, channel_count, self.limit.window_ms]
        if workspace_id in self._workspace_limits:
            args.append(self._workspace_limits[workspace_id].count)
        with translate_redis_errors():
            granted, wait_ms = await self._script(keys=self._keys_for(workspace_id), args=args)
        return 0.0 if int(granted) else int(wait_ms) / 1000

    @asynccontextmanager
    async def slot(self, workspace_id: str) -> AsyncIterator[bool]:
        """Wait for a send slot, hold it for the send (the body of the `with`), then log the
        send at its completion time. Yields whether the send had to wait."""
        if not self.limited(workspace_id):
            yield False
            return
        # Unique across processes and hosts: two sends in one ms must both be logged.
        token = f"{os.getpid()}-{id(self)}-{next(_tokens)}"
        # Polling is right here: the wait is computed by Redis from the shared log, and a slot
        # freed elsewhere is not announced, so there is nothing local to wait on.
        waited = False
        while (wait_s := await self.try_take(workspace_id, token)) > 0:
            waited = True
            await asyncio.sleep(wait_s)
        try:
            yield waited
        finally:
            # If Redis is away now, the slot keeps its grant time: a little less strict for this
            # one send, rather than reporting a send that went out as failed.
            with contextlib.suppress(StoreUnavailableError), translate_redis_errors():
                await self._script(keys=self._keys_for(workspace_id), args=["done", token])
