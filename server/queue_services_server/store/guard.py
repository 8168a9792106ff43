"""The store's guard: how full Redis is, and how many status callbacks wait to be delivered,
looked at most once a second per process, so that intake can refuse new jobs before Redis
refuses writes.

Why: with ``maxmemory`` reached, Redis refuses every write, including a worker's record of a
message it has just sent (which would then be sent again) and the status changes of jobs
already accepted. Refusing *new* jobs at a share of ``maxmemory`` keeps room for the writes of
the jobs the service has already promised to deliver. The callback stream holds only changes not
delivered yet (a delivered one is deleted), so it is never trimmed; if the CRM's endpoint stays
down, it grows, and intake of jobs that would add to it is refused past a bound instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace

#: Seconds a look at Redis is used for before the next request takes another.
LOOK_EVERY_S = 1.0


@dataclass(frozen=True)
class Pressure:
    """What the last look found."""

    #: Bytes Redis uses, and its ``maxmemory`` (0: no limit set).
    used_memory: int
    max_memory: int
    #: Status changes waiting in the callback stream (not delivered yet).
    callbacks_waiting: int

    @property
    def memory_share(self) -> float:
        """The share of ``maxmemory`` in use; 0.0 when Redis has no limit."""
        return self.used_memory / self.max_memory if self.max_memory else 0.0


class StoreGuard:
    """The latest `Pressure` of one Redis, refreshed at most every `LOOK_EVERY_S`."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys
        self._pressure = Pressure(0, 0, 0)
        self._looked_at = -LOOK_EVERY_S

    async def pressure(self) -> Pressure:
        """How full Redis is, as of at most `LOOK_EVERY_S` ago."""
        now = time.monotonic()
        if now - self._looked_at >= LOOK_EVERY_S:
            with translate_redis_errors():
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.info("memory")
                    pipe.xlen(self._keys.callbacks())
                    memory, waiting = await pipe.execute()
            self._pressure = Pressure(
                int(memory.get("used_memory", 0)), int(memory.get("maxmemory", 0)), int(waiting)
            )
            self._looked_at = now
        return self._pressure
