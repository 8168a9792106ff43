"""Workspace tiers: a workspace's own limit on a channel (sends per second), kept in Redis so that
every worker follows a change at its next slot.

``{p}:tiers:{ch}`` (hash) maps a workspace to its limit on that channel; the pacer
(`scripts/pace.lua`) and the claim (`scripts/claim.lua`) read it on every call. A workspace
without an entry has no limit of its own: only the channel's applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis

from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.records import CHANNELS


class TierStore:
    """The workspaces' own limits, per channel."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys

    async def get(self, workspace_id: str) -> dict[str, int | None]:
        """The workspace's limit on each channel (None: only the channel's limit applies)."""
        with translate_redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel in CHANNELS:
                    pipe.hget(self._keys.tiers(channel), workspace_id)
                values = await pipe.execute()
        return {
            channel: None if value is None else int(value)
            for channel, value in zip(CHANNELS, values, strict=True)
        }

    async def set(self, workspace_id: str, limits: Mapping[str, int | None]) -> None:
        """Set the workspace's limit on the channels given; None removes a limit."""
        with translate_redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                for channel, limit in limits.items():
                    if limit is None:
                        pipe.hdel(self._keys.tiers(channel), workspace_id)
                    else:
                        pipe.hset(self._keys.tiers(channel), workspace_id, limit)
                await pipe.execute()

    async def seed(self, limits: Mapping[str, Mapping[Any, int]]) -> None:
        """Write `limits` ({workspace: {channel: limit}}, the WORKSPACE_RATE_LIMITS setting)
        where a workspace has no limit on that channel yet: the setting is the initial value,
        and a limit set through the API since then stays."""
        with translate_redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                for workspace_id, channels in limits.items():
                    for channel, limit in channels.items():
                        pipe.hsetnx(self._keys.tiers(channel), workspace_id, limit)
                await pipe.execute()
