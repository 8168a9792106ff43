"""Reading the schedules: how many waiting jobs are due, across a channel's workspaces.

Jobs wait on one schedule per workspace and priority (``{p}:schedule:{ch}:{ws}:{priority}``);
a workspace whose earliest job is not due yet is in the due index, one with due jobs in the
round (see `store/keys.py`). Counting the due jobs therefore looks at the workspaces that can
have any, not at the jobs: two round trips, bounded by `DUE_WORKSPACES_EXAMINED` per priority.
"""

from __future__ import annotations

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
    pipe = redis.pipeline(transaction=False)
    for channel in channels:
        for priority in PRIORITIES:
            pipe.zrange(keys.round(channel, priority), 0, DUE_WORKSPACES_EXAMINED - 1)
            pipe.zrangebyscore(
                keys.due(channel, priority), "-inf", now_ms, 0, DUE_WORKSPACES_EXAMINED
            )
    replies = iter(await pipe.execute())
    schedules: list[tuple[str, str]] = []
    for channel in channels:
        for priority in PRIORITIES:
            workspaces = {bytes(ws).decode() for ws in next(replies)}
            workspaces |= {bytes(ws).decode() for ws in next(replies)}
            schedules += [
                (channel, keys.workspace_schedule(channel, ws, priority)) for ws in workspaces
            ]
    counts = dict.fromkeys(channels, 0)
    if not schedules:
        return counts
    pipe = redis.pipeline(transaction=False)
    for _, schedule in schedules:
        pipe.zcount(schedule, "-inf", now_ms)
    for (channel, _), count in zip(schedules, await pipe.execute(), strict=True):
        counts[channel] += int(count)
    return counts
