"""DeliveryStore: taking due jobs in fair batches, leases, and recording what was sent.

The two halves of delivery meet here: the dispatcher claims batches (claim.lua), the sender
takes its batch and renews the leases (leases.lua) and records outcomes as it goes (finish.lua).
Each is one atomic script on Redis's clock, so any number of worker processes on any number of
hosts can share one Redis.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from queue_services_server.clock import now_ms
from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.lua import load_script
from queue_services_server.store.metrics import SERIES_KEPT_S, duration_field, series_bucket
from queue_services_server.store.records import PRIORITIES, JobRecord

#: Workspaces moved from a due index into their round per priority per claim call: bounds the
#: work of one call (a claim touches workspaces, never the jobs of a backlog).
PROMOTE_LIMIT = 100

#: After this many claims in a row passed over a priority's due work, the next claim serves it:
#: high goes first across workspaces, and normal and low are never starved (claim.lua).
PRIORITY_RUN = 4

#: Rate-limit events kept per workspace and channel.
RATE_EVENTS_KEPT = 100

#: Seconds a workspace's rate-limit events are kept after its last one (a workspace gone quiet
#: leaves no list behind).
RATE_EVENTS_TTL_S = 30 * 86_400


@dataclass(frozen=True)
class ClaimedJob:
    """A job a claim took (now PROCESSING in the claim's batch); its record is read by the
    sender when it begins the batch."""

    id: str
    workspace_id: str
    priority: str


@dataclass(frozen=True)
class Claim:
    """What one claim call gave: a batch (maybe empty) and when the next job is due."""

    batch_id: str
    workspace_id: str | None
    jobs: list[ClaimedJob]
    #: The earliest due time still on the schedule (ms), or None if it is empty.
    next_due_ms: int | None
    #: Redis's clock when the claim was made (ms): what `next_due_ms` is to be compared with.
    now_ms: int = 0


@dataclass(frozen=True)
class Lease:
    """A sender's hold on its batch, as `begin` or `renew` found it."""

    #: False if the sender does not hold the batch: another sender runs it (a message delivered
    #: twice), or its lease ran out.
    held: bool
    #: Redis's clock (ms).
    now_ms: int = 0
    #: Jobs of the batch that are no longer its own (their lease expired).
    lost: frozenset[str] = frozenset()
    #: With `begin`: the records of the jobs still the batch's.
    records: tuple[JobRecord, ...] = ()


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
        retry_in_ms: how long from now to try again (for RETRY; Redis's clock decides when).
        rate_limited: the provider said "rate limited" (counted for the workspace).
    """

    job_id: str
    outcome: Outcome
    detail: str
    retry_in_ms: int = 0
    rate_limited: bool = False


class DeliveryStore:
    """Claims and outcomes of one channel's deliveries (see `store/keys.py` for the layout)."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys
        self._claim = load_script(redis, "claim.lua")
        self._finish = load_script(redis, "finish.lua")
        self._leases = load_script(redis, "leases.lua")

    async def claim(
        self,
        channel: str,
        *,
        batch_id: str,
        lookahead_ms: int,
        batch_size: int,
        max_in_flight: int,
        lease_ms: int,
        tier_window_ms: int,
        max_lease_expiries: int,
        least: int = 1,
    ) -> Claim:
        """Take the next batch of due jobs of `channel`, from one workspace, fairly (see
        claim.lua for what each argument bounds)."""
        keys = [
            self._keys.inflight(channel),
            self._keys.owners(channel),
            self._keys.workspace_inflight(channel),
            self._keys.tiers(channel),
            self._keys.deficit(channel),
            self._keys.priority_run(channel),
            *(self._keys.due(channel, priority) for priority in PRIORITIES),
            *(self._keys.round(channel, priority) for priority in PRIORITIES),
            self._keys.sending(channel),
        ]
        args: list[str | int] = [
            self._keys.prefix,
            channel,
            lookahead_ms,
            batch_size,
            max_in_flight,
            lease_ms,
            batch_id,
            PROMOTE_LIMIT,
            tier_window_ms,
            max_lease_expiries,
            least,
            PRIORITY_RUN,
        ]
        with translate_redis_errors():
            reply = await self._claim(keys=keys, args=args)
        taken, next_due, now = int(reply[0]), int(reply[1]), int(reply[2])
        workspace = reply[3].decode() if taken else None
        priority = reply[4].decode() if taken else ""
        jobs = [
            ClaimedJob(raw_id.decode(), workspace or "", priority)
            for raw_id in reply[5 : 5 + taken]
        ]
        return Claim(batch_id, workspace, jobs, None if next_due < 0 else next_due, now)

    async def begin(
        self, channel: str, batch_id: str, runner: str, job_ids: Sequence[str], lease_ms: int
    ) -> Lease:
        """Take the running of a batch (a second runner of the same batch gets `held` False) and
        renew its jobs' leases; gives the records of the jobs still the batch's, and says which
        are not."""
        return await self._lease("begin", channel, batch_id, runner, job_ids, lease_ms)

    async def renew(
        self, channel: str, batch_id: str, runner: str, job_ids: Sequence[str], lease_ms: int
    ) -> Lease:
        """Renew the leases of jobs still being sent; says which are no longer the batch's."""
        return await self._lease("renew", channel, batch_id, runner, job_ids, lease_ms)

    async def _lease(
        self,
        mode: str,
        channel: str,
        batch_id: str,
        runner: str,
        job_ids: Sequence[str],
        lease_ms: int,
    ) -> Lease:
        keys = [
            self._keys.owners(channel),
            self._keys.inflight(channel),
            self._keys.batch_run(batch_id),
        ]
        with translate_redis_errors():
            reply = await self._leases(
                keys=keys, args=[mode, batch_id, runner, lease_ms, self._keys.prefix, *job_ids]
            )
        if not int(reply[0]):
            return Lease(held=False)
        lost_count = int(reply[2])
        lost = frozenset(item.decode() for item in reply[3 : 3 + lost_count])
        held = [job_id for job_id in job_ids if job_id not in lost]
        records = tuple(
            JobRecord.decode(job_id, raw)
            for job_id, raw in zip(held, reply[3 + lost_count :], strict=False)
            if raw
        )
        return Lease(True, int(reply[1]), lost, records)

    async def finish(
        self,
        channel: str,
        batch_id: str,
        outcomes: Sequence[JobOutcome],
        *,
        last: bool,
        batch_size: int,
        duration_ms: int = 0,
        limiter_waits: int = 0,
    ) -> int:
        """Record the outcomes of some jobs of a batch, and the metrics they make, in one call
        (`last`: the batch's last call, which counts the batch itself); returns how many jobs
        were updated."""
        keys = [
            self._keys.inflight(channel),
            self._keys.wake(channel),
            self._keys.metrics(channel),
            self._keys.workspace_metrics(channel),
            self._keys.rate_limit_counts(channel),
            self._keys.series(channel, series_bucket(now_ms())),
            self._keys.owners(channel),
            self._keys.workspace_inflight(channel),
            self._keys.sending(channel),
        ]
        args: list[str | int] = [
            self._keys.prefix,
            channel,
            "1" if last else "0",
            batch_id,
            RATE_EVENTS_KEPT,
            duration_ms,
            duration_field(duration_ms / 1000),
            limiter_waits,
            SERIES_KEPT_S,
            batch_size,
            RATE_EVENTS_TTL_S,
        ]
        for item in outcomes:
            args += [
                item.job_id,
                item.outcome.value,
                item.detail,
                item.retry_in_ms,
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

    async def rate_events(self, workspace_id: str, channel: str) -> list[dict[str, object]]:
        """A workspace's recent provider rate-limit hits on a channel, newest first."""
        with translate_redis_errors():
            items = await self._redis.lrange(self._keys.rate_events(workspace_id, channel), 0, -1)
        return [orjson.loads(item) for item in items]
