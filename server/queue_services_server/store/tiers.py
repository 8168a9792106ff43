"""Workspace tiers: a workspace's own limit on a channel (sends per second), kept in Redis so that
every worker follows a change at its next slot.

``{p}:tiers:{ch}`` (hash) maps a workspace to its limit on that channel; the pacer
(`scripts/pace.lua`) and the claim (`scripts/claim.lua`) read it on every call. A workspace
without an entry has no limit of its own: only the channel's applies.

`TierStore.usage` reads how much of each channel a workspace is using now, for
``GET /api/workspaces/{workspaceId}/limits`` (`scripts/tier_usage.lua`: one call per channel, on
Redis's clock, both in one round trip).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.lua import load_script
from queue_services_server.store.records import CHANNELS, PRIORITIES

#: Ms: the window `TierStore.usage` counts a workspace's sends over: one second, as its limit
#: is stated (the pacer's own window adds a margin for jitter; a figure for people does not).
USAGE_WINDOW_MS = 1000


@dataclass(frozen=True)
class TierUsage:
    """How much of one channel a workspace is using, read at `now_ms` (Redis's clock)."""

    now_ms: int
    #: The workspace's own limit, sends per second; None: only the channel's applies.
    limit: int | None
    #: Its sends with a slot in the last `USAGE_WINDOW_MS`; None when nothing counts them (no
    #: tier and no channel limit: the pacer then keeps no log).
    used: int | None
    #: Until when (ms) its provider account is held back after a 429; None: not held.
    held_until_ms: int | None
    #: Its due jobs waiting in its lanes for their turn.
    backlog: int


class TierStore:
    """The workspaces' own limits, per channel."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys
        self._usage = load_script(redis, "tier_usage.lua")

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

    async def usage(
        self, workspace_id: str, *, accounts: Mapping[str, str], channel_limits: Mapping[str, int]
    ) -> dict[str, TierUsage]:
        """How much of each channel `workspace_id` uses now.

        Args:
            workspace_id: the workspace.
            accounts: per channel, the provider account its messages go out through
                (`Settings.provider_account`): the one whose 429 hold applies to it.
            channel_limits: per channel, the channel's limit (sends per second, 0: none):
                without a tier, its sends are counted from the channel's log, which is kept
                only under a limit.
        """
        with translate_redis_errors():
            try:
                replies = await self._usage_pipeline(workspace_id, accounts, channel_limits)
            except NoScriptError:
                # Redis lost its script cache (a restart, SCRIPT FLUSH): load it, once, again.
                await self._redis.script_load(self._usage.script)
                replies = await self._usage_pipeline(workspace_id, accounts, channel_limits)
        usage = {}
        for channel, reply in zip(CHANNELS, replies, strict=True):
            now_ms, tier, used, hold, backlog = (int(value) for value in reply)
            usage[channel] = TierUsage(
                now_ms=now_ms,
                limit=tier or None,
                used=None if used < 0 else used,
                held_until_ms=hold or None,
                backlog=backlog,
            )
        return usage

    async def _usage_pipeline(
        self, workspace_id: str, accounts: Mapping[str, str], channel_limits: Mapping[str, int]
    ) -> list[Any]:
        # EVALSHA straight into the pipeline, as JobStore does: a pipeline holding script
        # objects first asks SCRIPT EXISTS, a round trip more.
        keys = self._keys
        pipe = self._redis.pipeline(transaction=False)
        for channel in CHANNELS:
            names = [
                keys.tiers(channel),
                keys.pace(channel, workspace_id),
                keys.pace(channel),
                keys.rate_hold(channel, accounts[channel]),
                *(keys.workspace_schedule(channel, workspace_id, p) for p in PRIORITIES),
            ]
            limited = 1 if channel_limits[channel] > 0 else 0
            args: list[str | int] = [keys.prefix, workspace_id, USAGE_WINDOW_MS, limited]
            pipe.evalsha(self._usage.sha, len(names), *names, *args)
        replies: list[Any] = await pipe.execute()
        return replies

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
