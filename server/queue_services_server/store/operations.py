"""OperatorStore: what an operator sees and does across workspaces: counts and lists by state,
retry, send now, pause and resume a channel, clean old jobs.

Every list is a page of a status index (``{p}:state:{ch}:{status}``), or for SCHEDULED jobs of
the channel's schedules merged (next due first): no scan of all jobs, so the board stays fast
with millions stored.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis

from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.lua import load_script
from queue_services_server.store.records import (
    CHANNELS,
    FINAL_STATUSES,
    SCHEDULED,
    STATUSES,
    JobRecord,
)
from queue_services_server.store.schedules import count_due, scheduled_in_due_order

#: Jobs deleted per clean.lua call.
CLEAN_CHUNK = 500

#: Most index entries a filtered list page examines.
FILTER_SCAN_BUDGET = 2000


class ActionOutcome(enum.Enum):
    """What an operator action did."""

    DONE = 1
    WRONG_STATUS = 0
    NOT_FOUND = -1


@dataclass(frozen=True)
class Page:
    """A page of jobs in one status, newest first, and the offset of the next page."""

    jobs: list[JobRecord]
    total: int
    next_offset: int | None


class OperatorStore:
    """Cross-workspace views and actions for operators (see `store/keys.py` for the layout)."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys
        self._requeue = load_script(redis, "requeue.lua")
        self._clean = load_script(redis, "clean.lua")

    async def counts(self, now_ms: int) -> dict[str, dict[str, int]]:
        """Jobs per channel and status, with SCHEDULED split into `delayed` (not yet due) and
        `waiting` (due, waiting for a turn), and whether the channel is paused."""
        with translate_redis_errors():
            pipe = self._redis.pipeline(transaction=False)
            for channel in CHANNELS:
                for status in STATUSES:
                    if status == SCHEDULED:
                        pipe.get(self._keys.scheduled_count(channel))
                    else:
                        pipe.zcard(self._keys.state(channel, status))
                pipe.exists(self._keys.paused(channel))
            replies = iter(await pipe.execute())
            due = await count_due(self._redis, self._keys, CHANNELS, now_ms)
        result: dict[str, dict[str, int]] = {}
        for channel in CHANNELS:
            counts = {status: int(next(replies) or 0) for status in STATUSES}
            counts["waiting"] = min(due[channel], counts["SCHEDULED"])
            counts["delayed"] = counts["SCHEDULED"] - counts["waiting"]
            counts["paused"] = int(next(replies))
            result[channel] = counts
        return result

    async def page(
        self,
        channel: str,
        status: str,
        *,
        offset: int,
        limit: int,
        match: Callable[[JobRecord], bool] | None = None,
    ) -> Page:
        """Jobs of one status, newest first (SCHEDULED ones: the next due first); with `match`,
        only those it accepts (the page then examines at most `FILTER_SCAN_BUDGET` jobs)."""
        index = self._keys.state(channel, status)
        found: list[JobRecord] = []
        with translate_redis_errors():
            if status == SCHEDULED:
                total = int(await self._redis.get(self._keys.scheduled_count(channel)) or 0)
            else:
                total = int(await self._redis.zcard(index))
            position = offset
            step = limit if match is None else 200
            while (
                len(found) < limit and position < total and position - offset < FILTER_SCAN_BUDGET
            ):
                ids = await self._ids(channel, status, position, step)
                if not ids:
                    break
                raws = await self._redis.mget([self._keys.job(i) for i in ids])
                for job_id, raw in zip(ids, raws, strict=True):
                    position += 1
                    if raw is None:
                        continue
                    record = JobRecord.decode(job_id, raw)
                    if match is None or match(record):
                        found.append(record)
                        if len(found) == limit:
                            break
        return Page(found, total, position if position < total else None)

    async def _ids(self, channel: str, status: str, position: int, count: int) -> list[str]:
        """`count` ids of the jobs of one status from `position` on, in the page's order."""
        if status == SCHEDULED:
            merged = await scheduled_in_due_order(
                self._redis, self._keys, channel, position + count
            )
            return merged[position:]
        members = await self._redis.zrevrange(
            self._keys.state(channel, status), position, position + count - 1
        )
        return [bytes(member).decode() for member in members]  # type: ignore[arg-type]

    async def _action(
        self, job_id: str, now_ms: int, action: str
    ) -> tuple[ActionOutcome, JobRecord | None]:
        with translate_redis_errors():
            raw = await self._redis.get(self._keys.job(job_id))
            if raw is None:
                return ActionOutcome.NOT_FOUND, None
            job = JobRecord.decode(job_id, raw)
            channel = job.channel
            keys = [
                self._keys.job(job_id),
                self._keys.workspace_schedule(channel, job.workspace_id, job.priority),
                self._keys.state(channel, "FAILED"),
                self._keys.scheduled_count(channel),
                self._keys.wake(channel),
            ]
            ok, record_raw = await self._requeue(
                keys=keys, args=[job_id, now_ms, action, self._keys.prefix]
            )
        record = JobRecord.decode(job_id, record_raw) if record_raw else None
        return ActionOutcome(int(ok)), record

    async def retry(self, job_id: str, now_ms: int) -> tuple[ActionOutcome, JobRecord | None]:
        """Put a FAILED job back on the schedule, due now."""
        return await self._action(job_id, now_ms, "retry")

    async def send_now(self, job_id: str, now_ms: int) -> tuple[ActionOutcome, JobRecord | None]:
        """Make a SCHEDULED job that is not yet due, due now."""
        return await self._action(job_id, now_ms, "now")

    async def set_paused(self, channel: str, paused: bool) -> None:
        """Pause (no new batch is taken) or resume a channel; batches in flight finish."""
        with translate_redis_errors():
            if paused:
                await self._redis.set(self._keys.paused(channel), "1")
            else:
                await self._redis.delete(self._keys.paused(channel))
                await self._redis.lpush(self._keys.wake(channel), "1")

    async def take_sweep_turn(self, turn_ms: int) -> bool:
        """Whether this caller runs the retention sweep now: True for the first caller in each
        `turn_ms` (a token in ``{p}:retention-sweep`` that expires by itself), False for the
        others, so workers on every host sweep once per interval between them."""
        with translate_redis_errors():
            won = await self._redis.set(self._keys.retention_sweep(), "1", nx=True, px=turn_ms)
        return bool(won)

    async def clean(self, channel: str, status: str, older_than_ms: int, now_ms: int) -> int:
        """Delete jobs of a final status that entered it more than `older_than_ms` ago."""
        if status not in FINAL_STATUSES:
            raise ValueError("only COMPLETED, FAILED or CANCELLED jobs can be cleaned")
        deleted = 0
        with translate_redis_errors():
            while True:
                count = int(
                    await self._clean(
                        keys=[self._keys.state(channel, status)],
                        args=[self._keys.prefix, now_ms - older_than_ms, CLEAN_CHUNK],
                    )
                )
                deleted += count
                if count < CLEAN_CHUNK:
                    return deleted
