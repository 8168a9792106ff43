"""The Dramatiq broker: a RedisBroker with the AsyncIO middleware and our delivery middleware.

`setup_broker(settings)` must run before `actors` is imported: Dramatiq binds each actor to the
broker that is current when the actor is declared.
"""

from __future__ import annotations

import logging
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


class DeliveryMiddleware(Middleware):
    """Builds the worker runtime when a worker boots, runs its dispatchers, and stops them
    first when the worker shuts down (batches already taken are still sent)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

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
