"""Upgrading a store made by an earlier release to the current key layout.

Layout v1 (the first release) kept a channel's waiting jobs on one schedule, moved due ones into
per-workspace lanes and served a round of workspaces from those lanes. The current layout keeps
them on one schedule per workspace and priority (see `store/keys.py`). Job records, API keys,
metrics and everything in flight are the same in both, so the upgrade only moves waiting job
ids: `upgrade_store` runs ``upgrade_v1.lua`` in bounded chunks until no v1 key is left. Workers
run it when they start (before they claim anything), so the sequence is: stop the old API and
workers, start the new ones; the jobs scheduled before are delivered. Running it again, or from
several workers at once, is harmless: each chunk is atomic, and a store with no v1 key costs a
few commands.

Stores made before SCHEDULED jobs were counted (``{p}:scheduled-count:{ch}``) kept them in an
index of their own, ``{p}:state:{ch}:SCHEDULED``; the same start adds its size to the count and
deletes it (``count_scheduled.lua``, one atomic call per channel).
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.lua import load_script
from queue_services_server.store.records import CHANNELS

#: Jobs moved per script call: a few ms of Redis each.
UPGRADE_CHUNK = 500

logger = logging.getLogger("queue_services.store.upgrade")


async def upgrade_store(redis: aioredis.Redis, keys: KeySpace) -> int:
    """Move every waiting job of layout v1 onto the current layout, and count the SCHEDULED
    jobs of an index of their own; returns how many v1 job ids were looked at (0 when the store
    had no v1 key)."""
    script = load_script(redis, "upgrade_v1.lua")
    count_scheduled = load_script(redis, "count_scheduled.lua")
    total = 0
    with translate_redis_errors():
        for channel in CHANNELS:
            index = [keys.legacy_scheduled_index(channel), keys.scheduled_count(channel)]
            if counted := int(await count_scheduled(keys=index)):
                logger.info("store upgraded: %d SCHEDULED %s jobs counted", counted, channel)
        for channel in CHANNELS:
            fixed = [keys.legacy_schedule(channel), keys.legacy_ready(channel)]
            args: list[str | int] = [keys.prefix, channel, UPGRADE_CHUNK]
            # v1 kept a workspace in its round while any of its lanes held a job, so the round
            # names every lane there is: no scan of the keyspace at every worker's start
            while looked := int(await script(keys=fixed, args=args)):
                total += looked
    if total:
        logger.info("store upgraded from layout v1: %d waiting jobs moved", total)
    return total
