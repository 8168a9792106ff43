"""Reading the schedules: how many waiting jobs are due, across a channel's workspaces.

Jobs wait on one schedule per workspace and priority (``{p}:schedule:{ch}:{ws}:{priority}``);
a workspace whose earliest job is not due yet is in the due index, one with due jobs in the
round (see `store/keys.py`). Counting the due jobs therefore looks at the workspaces that can
have any, not at the jobs: two round trips, bounded by `DUE_WORKSPACES_EXAMINED` per priority.
Listing the SCHEDULED jobs of a channel, next due first, merges the same schedules.
"""

from __future__ import annotations

import heapq

import redis.asyncio as aioredis

from queue_services_server.store.keys import KeySpace
from queue_services_server.store.records import PRIORITIES

#: Most workspaces looked at per channel and priority when counting due jobs; past it the count
#: is of the first ones in the round (a lower bound), which only a deployment with more
#: workspaces than this all due at once would see.
DUE_WORKSPACES_EXAMINED = 1000


async def count_due(
    redis: aioredis.Redis, keys: KeySpace, channels: tuple[str, ...], now_ms: int
) -> dict[str, int]:
    """Per channel, the waiting jobs due by `now_ms` (waiting for their workspace's turn, for
    room in flight or for a tier). The caller translates Redis errors."""
    schedules = await _schedules(redis, keys, channels, due_by_ms=now_ms)
    counts = dict.fromkeys(channels, 0)
    if not schedules:
        return counts
    pipe = redis.pipeline(transaction=False)
    for _, schedule in schedules:
        pipe.zcount(schedule, "-inf", now_ms)
    for (channel, _), count in zip(schedules, await pipe.execute(), strict=True):
        counts[channel] += int(count)
    return counts


#: Entries read from one schedule at a time while merging them, at most.
MERGE_CHUNK_MAX = 500


async def scheduled_in_due_order(
    redis: aioredis.Redis, keys: KeySpace, channel: str, count: int
) -> list[str]:
    """The first `count` SCHEDULED jobs of `channel`, the next due first, merged from the
    schedules of its workspaces (those of the first `DUE_WORKSPACES_EXAMINED` workspaces of each
    priority's round and due index). Costs about `count` entries read, in a few round trips.
    The caller translates Redis errors."""
    schedules = [key for _, key in await _schedules(redis, keys, (channel,), due_by_ms=None)]
    if not schedules or count <= 0:
        return []
    # Each schedule is read a chunk at a time; the chunks are sized so that the first reads
    # cover `count` when the jobs are spread evenly, and a schedule's next chunk is read only
    # once the merge has used up the one before.
    chunk = min(max(count // len(schedules) + 1, 10), MERGE_CHUNK_MAX)
    pipe = redis.pipeline(transaction=False)
    for schedule in schedules:
        pipe.zrange(schedule, 0, chunk - 1, withscores=True)
    read: list[int] = []  # entries read from each schedule so far
    may_hold_more: list[bool] = []  # whether its last read came back full
    heap: list[tuple[float, str, int]] = []
    buffers: list[list[tuple[bytes, float]]] = []
    for index, entries in enumerate(await pipe.execute()):
        buffers.append(list(reversed(entries)))
        read.append(len(entries))
        may_hold_more.append(len(entries) == chunk)
        if buffers[index]:
            member, score = buffers[index].pop()
            heapq.heappush(heap, (score, bytes(member).decode(), index))
    found: list[str] = []
    while heap and len(found) < count:
        _, job_id, index = heapq.heappop(heap)
        found.append(job_id)
        if not buffers[index] and may_hold_more[index]:
            more: list[tuple[bytes, float]] = await redis.zrange(  # type: ignore[assignment]
                schedules[index], read[index], read[index] + chunk - 1, withscores=True
            )
            read[index] += len(more)
            may_hold_more[index] = len(more) == chunk
            buffers[index] = list(reversed(more))
        if buffers[index]:
            member, score = buffers[index].pop()
            heapq.heappush(heap, (score, bytes(member).decode(), index))
    return found


async def _schedules(
    redis: aioredis.Redis, keys: KeySpace, channels: tuple[str, ...], *, due_by_ms: int | None
) -> list[tuple[str, str]]:
    """(channel, schedule key) of the workspaces with waiting jobs: those in each priority's
    round, and those of its due index (only those due by `due_by_ms`, if given), at most
    `DUE_WORKSPACES_EXAMINED` of each, in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for channel in channels:
        for priority in PRIORITIES:
            pipe.zrange(keys.round(channel, priority), 0, DUE_WORKSPACES_EXAMINED - 1)
            due_by = "+inf" if due_by_ms is None else due_by_ms
            pipe.zrangebyscore(
                keys.due(channel, priority), "-inf", due_by, 0, DUE_WORKSPACES_EXAMINED
            )
    replies = iter(await pipe.execute())
    schedules: list[tuple[str, str]] = []
    for channel in channels:
        for priority in PRIORITIES:
            workspaces = {bytes(ws).decode() for ws in next(replies)}
            workspaces |= {bytes(ws).decode() for ws in next(replies)}
            schedules += [
                (channel, keys.workspace_schedule(channel, ws, priority))
                for ws in sorted(workspaces)
            ]
    return schedules
