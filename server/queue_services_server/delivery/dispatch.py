"""The dispatcher: wakes when jobs are due, claims fair batches, and hands each to the sending
actor, only as fast as the channel has room in flight.

One dispatcher per channel runs in every worker process; claims are atomic in Redis, so any
number of them can run side by side. A dispatcher sleeps until the next due time (less the
lookahead), for at most `IDLE_S`, or until woken by a new due job or a finished batch.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from queue_services_server.delivery.config import ChannelConfig
from queue_services_server.store.connection import StoreUnavailableError
from queue_services_server.store.delivery import DeliveryStore

logger = logging.getLogger("queue_services_server.dispatch")

#: Longest sleep, in seconds, between two looks at the schedule.
IDLE_S = 1.0

#: Seconds between two claims while the room grows with a slow provider's first sends.
ROOM_POLL_S = 0.05

#: Seconds to wait after Redis was unavailable before trying again.
UNAVAILABLE_PAUSE_S = 1.0

#: Hands a batch to the sending actor: (channel, batch id, job ids).
Enqueue = Callable[[str, str, list[str]], None]


class Dispatcher:
    """Claims due batches of one channel and enqueues them for sending."""

    def __init__(
        self,
        store: DeliveryStore,
        config: ChannelConfig,
        enqueue: Enqueue,
        provider_latency_s: Callable[[], float] = lambda: 0.0,
        latency_rising: Callable[[], bool] = lambda: False,
    ) -> None:
        self._store = store
        self._config = config
        self._enqueue = enqueue
        self._provider_latency_s = provider_latency_s
        self._latency_rising = latency_rising
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask the loop to end after its current step (it takes no new batch after that)."""
        self._stopping.set()

    async def run(self) -> None:
        """Claim and enqueue until stopped."""
        while not self._stopping.is_set():
            try:
                pause_s = await self.step()
            except StoreUnavailableError as exc:
                logger.warning("dispatcher %s: %s", self._config.channel, exc)
                pause_s = UNAVAILABLE_PAUSE_S
            except Exception:
                # A dispatcher that died would leave its channel unsent in this process for
                # good: log the bug and go on.
                logger.exception("dispatcher %s: unexpected error", self._config.channel)
                pause_s = UNAVAILABLE_PAUSE_S
            if pause_s > 0 and not self._stopping.is_set():
                try:
                    await self._store.wait_for_wake(self._config.channel, pause_s)
                except StoreUnavailableError:
                    await asyncio.sleep(UNAVAILABLE_PAUSE_S)

    async def step(self) -> float:
        """Claim one batch; returns how long to sleep before the next step (0: go on now)."""
        config = self._config
        latency_s = self._provider_latency_s()
        room = config.room_for(latency_s)
        claim = await self._store.claim(
            config.channel,
            batch_id=uuid.uuid4().hex[:16],
            lookahead_ms=config.lookahead_ms,
            batch_size=config.batch_size,
            max_in_flight=room,
            lease_ms=config.lease_ms,
            tier_window_ms=config.tier_window_ms(latency_s),
            max_lease_expiries=config.max_lease_expiries,
            least=config.least_claim(room),
        )
        if claim.jobs:
            try:
                self._enqueue(config.channel, claim.batch_id, [job.id for job in claim.jobs])
            except Exception as exc:  # the broker's Redis went away between claim and enqueue
                # The jobs are PROCESSING under a lease no sender renews: when it ends, the next
                # claim puts them back on the schedule. Nothing was sent, nothing is lost.
                logger.warning(
                    "dispatcher %s: batch %s not handed over, its %d jobs return when their "
                    "lease ends: %s",
                    config.channel,
                    claim.batch_id,
                    len(claim.jobs),
                    exc,
                )
                return UNAVAILABLE_PAUSE_S
            return 0.0
        if claim.next_due_ms is None:
            return IDLE_S
        until_due_s = (claim.next_due_ms - config.lookahead_ms - claim.now_ms) / 1000
        if until_due_s <= 0:
            # Due work but no room in flight: a finishing batch will wake us; but while the
            # provider's first answers are still on their way (a slow provider), the room grows
            # with their wait, and nothing finishes to say so.
            return ROOM_POLL_S if self._latency_rising() else IDLE_S
        return max(min(until_due_s, IDLE_S), 0.001)
