"""The pacer's state in Redis: send slots for the jobs of a batch under the channel's limit and
the workspace's tier, and holds after a provider's 429 (`scripts/pace.lua`: one call for a whole
group of jobs, on Redis's clock). The policy around it is `delivery/pacer.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.lua import load_script

#: A job's slot in `Slots.slots`: none this time (ask again after `Slots.wait_ms`).
NO_SLOT = -1

#: A job's slot in `Slots.slots`: the job is no longer the batch's (its lease expired).
LOST = -2


@dataclass(frozen=True)
class Slots:
    """What one reservation gave."""

    #: Redis's clock when the slots were given (ms): a slot's wait is `slot - now_ms`.
    now_ms: int
    #: One per job asked for, in order: its slot (ms, Redis's clock), `NO_SLOT` or `LOST`.
    slots: list[int]
    #: Ms to wait before asking again for the jobs that got `NO_SLOT`.
    wait_ms: int
    #: Whether a limit applies to these sends (the channel's or the workspace's tier): without
    #: one, a send late for its slot harms nothing.
    paced: bool = True


def send_token(job_id: str, batch_id: str) -> str:
    """The token of one send in the logs: a job is sent at most once per batch."""
    return f"{job_id}:{batch_id}"


class PacingStore:
    """The pacer's Redis state for one channel."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace, channel: str) -> None:
        self._keys = keys
        self._channel = channel
        self._script = load_script(redis, "pace.lua")

    def _keys_for(self, workspace_id: str, account: str) -> list[str]:
        keys, channel = self._keys, self._channel
        return [
            keys.owners(channel),
            keys.pace(channel),
            keys.pace_next(channel),
            keys.rate_hold(channel, account),
            keys.tiers(channel),
            keys.pace(channel, workspace_id),
            keys.pace_next(channel, workspace_id),
            keys.sending(channel),
        ]

    async def reserve(
        self,
        batch_id: str,
        workspace_id: str,
        account: str,
        jobs: Sequence[tuple[str, int]],
        *,
        channel_limit: int,
        window_ms: int,
        horizon_ms: int,
        burst: int = 1,
        lead_ms: int = 0,
    ) -> Slots:
        """Slots for `jobs` ((job id, due time ms) of one batch of one workspace), no further
        ahead than `horizon_ms`, under `channel_limit` sends per `window_ms` (0: none), the
        workspace's tier and any hold on `account`; under a limit, none sooner than `lead_ms`
        from now."""
        args: list[str | int] = [
            "reserve",
            batch_id,
            workspace_id,
            channel_limit,
            window_ms,
            horizon_ms,
            burst,
            lead_ms,
        ]
        for job_id, not_before_ms in jobs:
            args += [job_id, not_before_ms]
        with translate_redis_errors():
            reply = await self._script(keys=self._keys_for(workspace_id, account), args=args)
        return Slots(
            int(reply[0]), [int(slot) for slot in reply[3:]], int(reply[1]), bool(int(reply[2]))
        )

    async def hold(self, workspace_id: str, account: str, hold_ms: int) -> int:
        """Hold back `account`'s sends for `hold_ms` (a provider's 429); returns the end (ms)."""
        with translate_redis_errors():
            return int(
                await self._script(
                    keys=self._keys_for(workspace_id, account), args=["hold", hold_ms]
                )
            )
