"""The rate-limit logs in Redis: taking a send slot and logging the send's completion, one
`rate_limit.lua` call each, on Redis's clock (the policy is `delivery/rate_limiter.py`).

``{p}:rate:{ch}`` (zset: member = a token unique to one send, score = its time in ms) is a
channel's sliding-window log, ``{p}:rate:{ch}:{ws}`` a workspace's on a tier, and
``{p}:rate-hold:{ch}`` holds the channel back after a provider's 429.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.lua import load_script

#: Stands for "no limit" where the script needs a number.
UNLIMITED = 2**31


class RateLimitLog:
    """The sliding-window logs of one channel."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace, channel: str) -> None:
        self._keys = keys
        self._channel = channel
        self._script = load_script(redis, "rate_limit.lua")

    def _keys_for(self, workspace_id: str | None) -> list[str]:
        keys = [self._keys.rate(self._channel), self._keys.rate_hold(self._channel)]
        if workspace_id is not None:
            keys.append(self._keys.rate(self._channel, workspace_id))
        return keys

    async def take(
        self,
        token: str,
        *,
        channel_limit: int,
        window_ms: int,
        workspace_id: str | None = None,
        workspace_limit: int = 0,
    ) -> float:
        """Log a send now if the channel (and, given `workspace_id`, the workspace's tier) has
        room in the window: 0.0, else the seconds to wait before asking again. A channel limit
        of 0 means none."""
        args: list[int | str] = ["take", token, channel_limit or UNLIMITED, window_ms]
        if workspace_id is not None:
            args.append(workspace_limit)
        with translate_redis_errors():
            granted, wait_ms = await self._script(keys=self._keys_for(workspace_id), args=args)
        return 0.0 if int(granted) else int(wait_ms) / 1000

    async def done(self, token: str, workspace_id: str | None = None) -> None:
        """Move the send's entry to now, its completion time."""
        with translate_redis_errors():
            await self._script(keys=self._keys_for(workspace_id), args=["done", token])
