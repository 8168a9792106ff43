"""The sending actors, one per channel queue: thin wrappers over the worker runtime's senders.

Dramatiq's own retries are off (`max_retries=0`): a batch's failures are retried per job, on our
schedule, by the sender; a crashed actor's jobs come back when their lease expires.
"""

from __future__ import annotations

import dramatiq

from queue_services_server.broker import QUEUES
from queue_services_server.runtime import WorkerRuntime
from queue_services_server.settings import Settings

_runtime: WorkerRuntime | None = None

#: Milliseconds an actor may run: generous, since a batch waits for the rate limiter.
TIME_LIMIT_MS = 30 * 60 * 1000


def runtime() -> WorkerRuntime:
    """This process's runtime (built when the worker booted)."""
    if _runtime is None:
        raise RuntimeError(
            "the worker runtime is not started; run actors under `queue-services worker`"
        )
    return _runtime


def _enqueue(channel: str, batch_id: str, job_ids: list[str]) -> None:
    actor = send_sms_batch if channel == "sms" else send_email_batch
    actor.send(batch_id, job_ids)


async def start_runtime(settings: Settings) -> None:
    """Build this process's runtime on the event loop and start its dispatchers."""
    global _runtime
    _runtime = WorkerRuntime(settings, _enqueue)
    _runtime.start()


async def stop_dispatching() -> None:
    """Stop taking new batches (on shutdown); batches in flight are still sent."""
    if _runtime is not None:
        await _runtime.stop_dispatching()


async def close_runtime() -> None:
    """Release the runtime's connections."""
    global _runtime
    if _runtime is not None:
        await _runtime.close()
        _runtime = None


@dramatiq.actor(queue_name=QUEUES["sms"], max_retries=0, time_limit=TIME_LIMIT_MS)
async def send_sms_batch(batch_id: str, job_ids: list[str]) -> None:
    """Send one batch of SMS."""
    await runtime().senders["sms"].send_batch(batch_id, job_ids)


@dramatiq.actor(queue_name=QUEUES["email"], max_retries=0, time_limit=TIME_LIMIT_MS)
async def send_email_batch(batch_id: str, job_ids: list[str]) -> None:
    """Send one batch of emails."""
    await runtime().senders["email"].send_batch(batch_id, job_ids)
