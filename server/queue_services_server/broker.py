"""The Dramatiq broker: a RedisBroker with the AsyncIO middleware and our delivery middleware.

`setup_broker(settings)` must run before `actors` is imported: Dramatiq binds each actor to the
broker that is current when the actor is declared.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from types import FrameType
from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, Middleware

from queue_services_server import logs
from queue_services_server.settings import Settings
from queue_services_server.store.connection import connect_sync

logger = logging.getLogger("queue_services_server.worker")

#: The broker queues, named as the seeds name them.
QUEUES = {"sms": "send-sms-queue", "email": "send-email-queue"}


#: Seconds within which a second SIGTERM is the same stop delivered twice: to the whole process
#: group (systemd's default, `kill -- -PGID`) it reaches a worker process directly and again
#: through Dramatiq's main process, which forwards it.
DUPLICATE_SIGNAL_S = 2.0

#: Exit code of a worker process killed by a later, deliberate second SIGTERM (Dramatiq's).
KILLED_EXIT_CODE = 1


def one_stop_per_signal_burst(graceful: Any) -> Any:
    """A SIGTERM handler: the first signal calls `graceful` (Dramatiq's: finish the batches in
    flight, then exit), a repeat within `DUPLICATE_SIGNAL_S` is ignored, a later one exits at once.

    Dramatiq's own handler answers any second signal with `sys.exit` in the main thread, which
    skips the worker's shutdown and leaves the process hanging on its event loop thread for good;
    a group-wide SIGTERM always delivers two.
    """
    first_at: float | None = None

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal first_at
        now = time.monotonic()
        if first_at is None:
            first_at = now
            graceful(signum, frame)
        elif now - first_at >= DUPLICATE_SIGNAL_S:
            logger.warning(
                "second SIGTERM: exiting now; batches in flight return after their lease"
            )
            os._exit(KILLED_EXIT_CODE)

    return handle


class DeliveryMiddleware(Middleware):
    """Builds the worker runtime when a worker boots, runs its dispatchers, and stops them
    first when the worker shuts down (batches already taken are still sent)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        # In a worker process's main thread, after Dramatiq installed its SIGTERM handler (the
        # main process, which only forwards signals, does not emit this).
        graceful = signal.getsignal(signal.SIGTERM)
        if callable(graceful):
            signal.signal(signal.SIGTERM, one_stop_per_signal_burst(graceful))

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        from queue_services_server import actors

        loop_thread = get_event_loop_thread()
        assert loop_thread is not None, "the AsyncIO middleware must come before this one"
        loop_thread.run_coroutine(actors.start_runtime(self.settings))

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        from queue_services_server import actors

        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(actors.stop_dispatching())

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        from queue_services_server import actors

        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(actors.close_runtime())


def setup_broker(settings: Settings) -> RedisBroker:
    """Create the broker for `settings` and make it Dramatiq's current broker."""
    logs.configure(
        settings.log_level, settings.log_format, mask_personal_data=settings.log_mask_personal_data
    )
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        client=connect_sync(settings.redis_url or "", timeout_s=None),
        namespace=f"{settings.redis_prefix}:dramatiq",
    )
    broker.add_middleware(AsyncIO())
    broker.add_middleware(DeliveryMiddleware(settings))
    dramatiq.set_broker(broker)
    return broker
