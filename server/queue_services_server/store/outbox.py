"""The dev outbox: what the ``outbox`` provider "sent", kept in a capped list per channel.

``{p}:outbox:{ch}`` (list) holds the last `OUTBOX_SIZE` messages of a channel, newest first, each
one JSON object; the board and ``GET /api/outbox`` read it.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace

#: Messages kept per channel.
OUTBOX_SIZE = 1000


class Outbox:
    """The outbox lists of one deployment."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys

    async def add(self, channel: str, entry: dict[str, Any]) -> None:
        """Keep one sent message (the oldest beyond `OUTBOX_SIZE` is dropped); raises
        `StoreUnavailableError` if Redis cannot be reached."""
        key = self._keys.outbox(channel)
        with translate_redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.lpush(key, orjson.dumps(entry))
                pipe.ltrim(key, 0, OUTBOX_SIZE - 1)
                await pipe.execute()

    async def latest(self, channel: str, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` messages kept for `channel`, newest first."""
        with translate_redis_errors():
            items = await self._redis.lrange(self._keys.outbox(channel), 0, limit - 1)
        return [orjson.loads(item) for item in items]
