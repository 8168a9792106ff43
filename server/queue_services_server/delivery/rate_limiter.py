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

from queue_services_server.store.connection import RedisClient, StoreUnavailableError
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.rate_limits import RateLimitLog

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
        redis: RedisClient,
        keys: KeySpace,
        channel: str,
        limit: Limit,
        workspace_limits: dict[str, Limit] | None = None,
    ) -> None:
        self.channel = channel
        self.limit = limit
        self._workspace_limits = workspace_limits or {}
        self._log = RateLimitLog(redis, keys, channel)

    def _tier(self, workspace_id: str) -> str | None:
        """`workspace_id` if it has a limit of its own, else None."""
        return workspace_id if workspace_id in self._workspace_limits else None

    def limited(self, workspace_id: str) -> bool:
        """Whether sends of this workspace are limited at all."""
        return self.limit.count > 0 or workspace_id in self._workspace_limits

    async def try_take(self, workspace_id: str, token: str) -> float:
        """Take a slot for one send now if there is one: 0.0, else the seconds to wait."""
        tier = self._tier(workspace_id)
        return await self._log.take(
            token,
            channel_limit=self.limit.count,
            window_ms=self.limit.window_ms,
            workspace_id=tier,
            workspace_limit=self._workspace_limits[tier].count if tier else 0,
        )

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
            with contextlib.suppress(StoreUnavailableError):
                await self._log.done(token, self._tier(workspace_id))
