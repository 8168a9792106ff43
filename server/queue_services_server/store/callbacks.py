"""The queue of status callbacks: the ``{p}:callbacks`` stream and its retry set.

Every script that changes a job's status appends the change to the stream when the job has a
callback URL (`notify` in `scripts/_common.lua`). Worker processes read it as consumers of one
group (`GROUP`), so each change goes to one of them; a change taken by a worker that died is
claimed by another after `CLAIM_IDLE_MS`. A failed delivery waits in ``{p}:callbacks:retry``
(zset: member = the event as JSON, score = when to try again, ms) and goes back on the stream
when due.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import redis.asyncio as aioredis
import redis.exceptions

from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace

#: The consumer group of the workers' callback senders.
GROUP = "senders"

#: A taken event not acknowledged for this long (ms) belonged to a worker that died.
CLAIM_IDLE_MS = 60_000

#: Due retries moved back to the stream per read.
RETRIES_PER_READ = 100

#: One status change: its stream id and its fields (jobId, status, url, at, ...).
Event = tuple[bytes, dict[str, str]]


def _decoded(entry_id: bytes, raw: dict[bytes, bytes]) -> Event:
    return entry_id, {key.decode(): value.decode() for key, value in raw.items()}


class CallbackQueue:
    """One consumer's view of the callback stream."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace, consumer: str) -> None:
        self._redis = redis
        self._keys = keys
        self._consumer = consumer

    async def create_group(self) -> None:
        """Make the consumer group (and the stream) if they do not exist yet."""
        with translate_redis_errors(), contextlib.suppress(redis.exceptions.ResponseError):
            # ResponseError: the group exists already
            await self._redis.xgroup_create(self._keys.callbacks(), GROUP, id="0", mkstream=True)

    async def read(self, count: int, block_ms: int, now_ms: int) -> list[Event]:
        """Up to `count` changes to deliver: due retries are put back on the stream first, then
        changes abandoned by a dead consumer are taken over, else new ones are read (waiting up
        to `block_ms` for some)."""
        stream = self._keys.callbacks()
        with translate_redis_errors():
            await self._requeue_due_retries(now_ms)
            claimed = await self._redis.xautoclaim(
                stream, GROUP, self._consumer, min_idle_time=CLAIM_IDLE_MS, count=count
            )
            entries = list(claimed[1])
            if not entries:
                replies = await self._redis.xreadgroup(
                    GROUP, self._consumer, {stream: ">"}, count=count, block=block_ms
                )
                entries = [entry for _, batch in replies for entry in batch]  # type: ignore[str-unpack,union-attr]
        return [_decoded(entry_id, raw) for entry_id, raw in entries]

    async def done(self, entry_id: bytes, retry: dict[str, Any] | None = None) -> None:
        """Remove a delivered (or given up) change from the stream; with `retry`, an event to try
        again at its ``due_ms``, kept in the retry set meanwhile."""
        with translate_redis_errors():
            if retry is not None:
                event = dict(retry)
                due_ms = int(event.pop("due_ms"))
                await self._redis.zadd(self._keys.callback_retries(), {orjson.dumps(event): due_ms})
            await self._redis.xack(self._keys.callbacks(), GROUP, entry_id)
            await self._redis.xdel(self._keys.callbacks(), entry_id)

    async def _requeue_due_retries(self, now_ms: int) -> None:
        due: list[bytes] = await self._redis.zrangebyscore(  # type: ignore[assignment]
            self._keys.callback_retries(), "-inf", now_ms, 0, RETRIES_PER_READ
        )
        for member in due:
            # Whoever removes the member re-adds it: two senders never both retry one event.
            if await self._redis.zrem(self._keys.callback_retries(), member):
                await self._redis.xadd(self._keys.callbacks(), orjson.loads(member))
