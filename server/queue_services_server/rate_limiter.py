"""The shared rate limiter: at most N sends per window per channel (and per workspace tier),
held across every worker process on every host by one Lua script on Redis's clock.

Chosen over the alternatives because it must (a) never let more than N sends fall in ANY window,
which rules out fixed windows (BullMQ's limiter lets up to 2N through across a boundary); (b) say
how long to wait instead of raising, which Dramatiq's limiters do (they hand the message to its
retries, 15 s minimum backoff, and cannot pace a steady 50/s); (c) use one clock for every host,
which a limiter timing itself with each host's `time.time()` (the `limits` library's moving
window) does not. The log is a sorted set of at most N entries per channel.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass

import redis.asyncio as aioredis

from queue_services_server.store.connection import translate_redis_errors
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

    async def try_acquire(self, workspace_id: str) -> float:
        """Take a slot for one send now if there is one: returns 0.0, else the seconds to wait."""
        workspace_limit = self._workspace_limits.get(workspace_id)
        if self.limit.count <= 0 and workspace_limit is None:
            return 0.0
        # A token unique across processes and hosts: two sends in one ms must both be logged.
        token = f"{os.getpid()}-{id(self)}-{next(_tokens)}"
        keys = [self._keys.rate(self.channel), self._keys.rate_hold(self.channel)]
        channel_count = self.limit.count if self.limit.count > 0 else 2**31
        args: list[int | str] = [channel_count, self.limit.window_ms, token]
        if workspace_limit is not None:
            keys.append(self._keys.rate(self.channel, workspace_id))
            args.append(workspace_limit.count)
        with translate_redis_errors():
            granted, wait_ms = await self._script(keys=keys, args=args)
        return 0.0 if int(granted) else int(wait_ms) / 1000

    async def acquire(self, workspace_id: str) -> None:
        """Wait until a send may go, then take its slot."""
        # Polling is right here: the wait is computed by Redis from the log, and the slot may be
        # taken by another process meanwhile, so there is nothing local to wait on.
        while (wait_s := await self.try_acquire(workspace_id)) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait_s)
