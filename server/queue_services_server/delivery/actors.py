"""The sending actors, one per channel queue: thin wrappers over the worker runtime's senders.

They are declared against an explicit broker by `declare_actors` (never against Dramatiq's
global default), and find this process's runtime through the callable they are given.

Dramatiq's own retries are off (`max_retries=0`): a batch's failures are retried per job, on our
schedule, by the sender; a crashed actor's jobs come back when their lease expires.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import dramatiq

from queue_services_server.delivery.config import QUEUES, actor_name

if TYPE_CHECKING:
    from queue_services_server.delivery.runtime import WorkerRuntime

#: Milliseconds an actor may run: generous, since a batch waits for the rate limiter.
TIME_LIMIT_MS = 30 * 60 * 1000

SendBatch = Callable[[str, list[str]], Awaitable[None]]


def declare_actors(
    broker: dramatiq.Broker, runtime: Callable[[], WorkerRuntime]
) -> dict[str, dramatiq.Actor[[str, list[str]], None]]:
    """Declare each channel's sending actor on `broker`; returns them by channel."""

    def sender_of(channel: str) -> SendBatch:
        async def send_batch(batch_id: str, job_ids: list[str]) -> None:
            # Handed over, not awaited: the batch's leases, not the broker's message, keep it
            # safe from here (a worker that dies leaves its jobs to their leases).
            runtime().start_batch(channel, batch_id, job_ids)

        send_batch.__doc__ = f"Send one batch of {channel} messages."
        return send_batch

    return {
        channel: dramatiq.actor(
            broker=broker,
            actor_name=actor_name(channel),
            queue_name=queue,
            max_retries=0,
            time_limit=TIME_LIMIT_MS,
        )(sender_of(channel))
        for channel, queue in QUEUES.items()
    }
