"""DeliveryStore: taking due jobs in fair batches, leases, and recording what was sent.

The two halves of delivery meet here: the dispatcher claims batches (claim.lua), the sending
actor renews its leases and records outcomes (finish.lua). Both are single atomic scripts, so
any number of worker processes on any number of hosts can share one Redis.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.lua import load_script
from queue_services_server.store.metrics import SERIES_KEPT_S, duration_field, series_bucket
from queue_services_server.store.records import JobRecord

#: Due jobs moved from the schedule into lanes per claim call: bounds the work of one call.
PROMOTE_LIMIT = 1000

#: Rate-limit events kept per workspace and channel.
RATE_EVENTS_KEPT = 100


@dataclass(frozen=True)
class Claim:
    """What one claim call gave: a batch (maybe empty) and when the next job is due."""

    batch_id: str
    workspace_id: str | None
    jobs: list[JobRecord]
    #: The earliest due time still on the schedule (ms), or None if it is empty.
    next_due_ms: int | None


class Outcome(enum.Enum):
    """What happened to one job of a batch."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class JobOutcome:
    """One job's result, as the sending actor reports it.

    Attributes:
        job_id: the job.
        outcome: sent, to retry, or failed for good.
        detail: the provider's message id when sent, else the error.
        retry_at_ms: when to try again (for RETRY).
        rate_limited: the provider said "rate limited" (counted for the workspace).
    """

    job_id: str
    outcome: Outcome
    detail: str
    retry_at_ms: int = 0
    rate_limited: bool = False


class DeliveryStore:
    """Claims and outcomes of one channel's deliveries (see `store/keys.py` for the layout)."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys
        self._claim = load_script(redis, "claim.lua")
        self._finish = load_script(redis, "finish.lua")

    async def claim(
        self,
        channel: str,
        *,
        batch_id: str,
        now_ms: int,
        lookahead_ms: int,
        batch_size: int,
        max_in_flight: int,
        lease_ms: int,
    ) -> Claim:
        """Take the next batch of due jobs of `channel`, from one workspace, fairly."""
        keys = [
            self._keys.schedule(channel),
            self._keys.ready(channel),
            self._keys.inflight(channel),
        ]
        args: list[str | int] = [
            self._keys.prefix,
            channel,
            now_ms,
            lookahead_ms,
            batch_size,
            max_in_flight,
            lease_ms,
            batch_id,
            PROMOTE_LIMIT,
        ]
        with translate_redis_errors():
            reply = await self._claim(keys=keys, args=args)
        taken, next_due = int(reply[0]), int(reply[1])
        workspace = reply[2].decode() if taken else None
        jobs = [JobRecord.from_json(raw) for raw in reply[3 : 3 + taken]]
        return Claim(batch_id, workspace, jobs, None if next_due < 0 else next_due)

    async def renew(self, channel: str, job_ids: Sequence[str], until_ms: int) -> None:
        """Extend the leases of jobs still being sent (XX: a finished job is not put back)."""
        with translate_redis_errors():
            await self._redis.zadd(
                self._keys.inflight(channel), dict.fromkeys(job_ids, until_ms), xx=True
            )

    async def finish(
        self,
        channel: str,
        batch_id: str,
        outcomes: Sequence[JobOutcome],
        now_ms: int,
        *,
        duration_ms: int = 0,
        limiter_waits: int = 0,
    ) -> int:
        """Record the outcomes of a batch, and the metrics they make, in one call; returns how
        many jobs were updated."""
        keys = [
            self._keys.schedule(channel),
            self._keys.inflight(channel),
            self._keys.wake(channel),
            self._keys.metrics(channel),
            self._keys.workspace_metrics(channel),
            self._keys.rate_limit_counts(channel),
            self._keys.series(channel, series_bucket(now_ms)),
        ]
        args: list[str | int] = [
            self._keys.prefix,
            channel,
            now_ms,
            batch_id,
            RATE_EVENTS_KEPT,
            duration_ms,
            duration_field(duration_ms / 1000),
            limiter_waits,
            SERIES_KEPT_S,
        ]
        for item in outcomes:
            args += [
                item.job_id,
                item.outcome.value,
                item.detail,
                item.retry_at_ms,
                "1" if item.rate_limited else "0",
            ]
        with translate_redis_errors():
            return int(await self._finish(keys=keys, args=args))

    async def wait_for_wake(self, channel: str, timeout_s: float) -> bool:
        """Sleep until a wake token arrives or `timeout_s` passes; True if woken."""
        with translate_redis_errors():
            return (
                await self._redis.blpop([self._keys.wake(channel)], timeout=timeout_s) is not None
            )

    async def wake(self, channel: str) -> None:
        """Wake one sleeping dispatcher of `channel`."""
        key = self._keys.wake(channel)
        with translate_redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.lpush(key, "1")
                pipe.ltrim(key, 0, 0)
                await pipe.execute()

    async def hold(self, channel: str, until_ms: int, ttl_ms: int) -> None:
        """Hold a channel back until `until_ms` (after a provider's 429 with Retry-After)."""
        with translate_redis_errors():
            await self._redis.set(self._keys.rate_hold(channel), until_ms, px=max(ttl_ms, 1))

    async def rate_events(self, workspace_id: str, channel: str) -> list[dict[str, object]]:
        """A workspace's recent provider rate-limit hits on a channel, newest first."""
        with translate_redis_errors():
            items = await self._redis.lrange(self._keys.rate_events(workspace_id, channel), 0, -1)
        return [orjson.loads(item) for item in items]
