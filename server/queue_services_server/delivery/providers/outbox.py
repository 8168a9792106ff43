"""The outbox provider: the development default, which "sends" by keeping messages in Redis.

The last `OUTBOX_SIZE` messages of each channel are kept (newest first) for the board and for
``GET /api/outbox``; nothing leaves the machine.
"""

from __future__ import annotations

import time

import orjson
import redis.asyncio as aioredis

from queue_services_server.delivery.providers.base import OutboundMessage, RetryableProviderError
from queue_services_server.store.keys import KeySpace

#: Messages kept per channel.
OUTBOX_SIZE = 1000


class OutboxProvider:
    """Keeps each message in a capped Redis list."""

    name = "outbox"

    def __init__(self, redis: aioredis.Redis, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys

    async def send(self, message: OutboundMessage) -> str:
        """Keep the message; its id in the outbox is the job id."""
        entry = {
            "jobId": message.job_id,
            "channel": message.channel,
            "workspaceId": message.workspace_id,
            "contactId": message.contact_id,
            "payload": message.payload,
            "metadata": message.metadata,
            "attempt": message.attempt,
            "sentAt": time.time_ns() // 1_000_000,
        }
        key = self._keys.outbox(message.channel)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.lpush(key, orjson.dumps(entry))
                pipe.ltrim(key, 0, OUTBOX_SIZE - 1)
                await pipe.execute()
        except (ConnectionError, OSError, TimeoutError) as exc:
            raise RetryableProviderError(f"outbox unavailable: {exc}") from exc
        return message.job_id

    async def aclose(self) -> None:
        """Nothing to release: the Redis client belongs to the worker."""
