"""The Dramatiq broker: a RedisBroker with the AsyncIO middleware, our delivery middleware (which
owns each worker process's runtime) and the sending actors declared on it."""

from __future__ import annotations

import gc
import logging
import os
import signal
import time
from collections.abc import Coroutine
from types import FrameType
from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO, Middleware

from queue_services_server import logs
from queue_services_server.delivery.actors import declare_actors
from queue_services_server.delivery.config import actor_name
from queue_services_server.delivery.runtime import WorkerRuntime
from queue_services_server.settings import Settings
from queue_services_server.store.connection import connect_sync
from queue_services_server.store.keys import KeySpace

logger = logging.getLogger("queue_services_server.worker")

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
    """Owns the worker runtime of a worker process: builds it when the worker boots, runs its
    dispatchers, and stops them first when the worker shuts down (batches already taken are
    still sent)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._runtime: WorkerRuntime | None = None

    def runtime(self) -> WorkerRuntime:
        """This process's runtime (built when the worker booted)."""
        if self._runtime is None:
            raise RuntimeError(
                "the worker runtime is not started; run actors under `queue-services worker`"
            )
        return self._runtime

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        # In a worker process's main thread, after Dramatiq installed its SIGTERM handler (the
        # main process, which only forwards signals, does not emit this).
        graceful = signal.getsignal(signal.SIGTERM)
        if callable(graceful):
            signal.signal(signal.SIGTERM, one_stop_per_signal_burst(graceful))

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        def enqueue(channel: str, batch_id: str, job_ids: list[str]) -> None:
            broker.get_actor(actor_name(channel)).send(batch_id, job_ids)

        async def start() -> None:
            self._runtime = WorkerRuntime(self.settings, enqueue)
            self._runtime.start()

        self._run_on_loop(start())
        # What the process holds from here on (modules, settings, clients, the runtime) lives
        # as long as it does: out of the collector's sight, a full collection is over in about
        # 20 ms instead of 40 to 60 (measured at 100/s, 250 sends at a 2.5 s provider); each
        # such pause held every send past its slot, and those sends took new slots.
        gc.freeze()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        if self._runtime is not None:
            self._run_on_loop(self._runtime.stop_dispatching())

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            self._run_on_loop(runtime.close())

    @staticmethod
    def _run_on_loop(step: Coroutine[Any, Any, None]) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            step.close()
            raise RuntimeError("the AsyncIO middleware must come before DeliveryMiddleware")
        loop_thread.run_coroutine(step)


def setup_broker(settings: Settings) -> RedisBroker:
    """The broker for `settings`, with its middleware and the sending actors declared on it; it
    is also made Dramatiq's current broker, for Dramatiq code that asks for that one."""
    logs.configure(
        settings.log_level, settings.log_format, mask_personal_data=settings.log_mask_personal_data
    )
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        client=connect_sync(settings.broker_url or settings.redis_url or "", timeout_s=None),
        namespace=KeySpace(settings.redis_prefix).broker_namespace(),
    )
    delivery = DeliveryMiddleware(settings)
    broker.add_middleware(AsyncIO())
    broker.add_middleware(delivery)
    declare_actors(broker, delivery.runtime)
    dramatiq.set_broker(broker)
    return broker
