"""The sender: what the sending actor does with one batch.

It keeps the jobs that are still its own, renews their leases while it works, sends each at its
due time through the rate limiter and the provider (a few at a time), and records every outcome
in one Redis call at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import tenacity

from queue_services_server.clock import now_ms
from queue_services_server.delivery.config import ChannelConfig
from queue_services_server.delivery.providers.base import (
    OutboundMessage,
    PermanentProviderError,
    Provider,
    RetryableProviderError,
)
from queue_services_server.delivery.rate_limiter import RateLimiter
from queue_services_server.store.connection import StoreUnavailableError
from queue_services_server.store.delivery import DeliveryStore, JobOutcome, Outcome
from queue_services_server.store.jobs import JobStore
from queue_services_server.store.records import PROCESSING, JobRecord

logger = logging.getLogger("queue_services_server.sender")

ResultT = TypeVar("ResultT")

#: Weight of each new sample in the provider's mean latency.
LATENCY_WEIGHT = 0.05

#: Seconds a channel is held back after a provider's 429 that gave no Retry-After.
DEFAULT_RATE_HOLD_S = 1.0


def retry_delay_s(config: ChannelConfig, attempt: int, retry_after: float | None) -> float:
    """Seconds before attempt `attempt + 1`: exponential from `retry_base_s`, doubling, capped at
    `retry_max_s`, with jitter (half to all of it); never less than the provider's Retry-After."""
    ceiling: float = min(config.retry_base_s * 2.0 ** (attempt - 1), config.retry_max_s)
    delay = ceiling * random.uniform(0.5, 1.0)
    return max(delay, retry_after or 0.0)


class BatchSender:
    """Sends the batches of one channel through one provider."""

    def __init__(
        self,
        config: ChannelConfig,
        jobs: JobStore,
        delivery: DeliveryStore,
        limiter: RateLimiter,
        provider: Provider,
    ) -> None:
        self._config = config
        self._jobs = jobs
        self._delivery = delivery
        self._limiter = limiter
        self._provider = provider
        #: Rate-limiter waits of each batch being sent, for its metrics.
        self._waits: dict[str, int] = {}
        #: The provider's answer time for a sent message, seconds, averaged (failures are left
        #: out: a timing-out provider must not make us take more jobs).
        self.latency_s = 0.0
        self._latency_samples = 0

    async def send_batch(self, batch_id: str, job_ids: Sequence[str]) -> list[JobOutcome]:
        """Send the jobs of `batch_id` that are still its own; returns their outcomes."""
        started = time.monotonic()
        try:
            records = await self._while_leased(self._jobs.get_many, job_ids)
        except StoreUnavailableError as exc:
            # The batch's leases run out while Redis is away: its jobs go back on the schedule
            # and another batch sends them. Nothing was sent, so nothing is lost.
            logger.warning("batch %s left to its lease: %s", batch_id, exc)
            return []
        mine = [
            record
            for record in records
            if record is not None and record.status == PROCESSING and record.batch_id == batch_id
        ]
        if not mine:
            return []
        semaphore = asyncio.Semaphore(self._config.concurrency_for(self.latency_s))

        async def send_one(record: JobRecord) -> JobOutcome:
            async with semaphore:
                return await self._send_one(record, batch_id)

        self._waits[batch_id] = 0
        try:
            async with self._leases([record.id for record in mine]):
                outcomes = await asyncio.gather(*(send_one(record) for record in mine))
            duration_ms = int((time.monotonic() - started) * 1000)
            await self._finish(batch_id, outcomes, duration_ms, self._waits[batch_id])
        finally:
            del self._waits[batch_id]
        counts = {outcome: sum(1 for o in outcomes if o.outcome is outcome) for outcome in Outcome}
        fields = {
            "channel": self._config.channel,
            "workspace": mine[0].workspace_id,
            "size": len(mine),
            "sent": counts[Outcome.SENT],
            "retry": counts[Outcome.RETRY],
            "failed": counts[Outcome.FAILED],
            "duration_ms": int((time.monotonic() - started) * 1000),
        }
        # The text line carries every field; JSON logs get them as keys of their own.
        logger.info(
            "batch " + " ".join(f"{name}={value}" for name, value in fields.items()), extra=fields
        )
        return outcomes

    async def _send_one(self, record: JobRecord, batch_id: str) -> JobOutcome:
        # Jobs are taken up to the dispatch lookahead early; they go at their due time.
        wait_s = (record.scheduled_for - now_ms()) / 1000
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        attempt = record.attempts + 1
        message = OutboundMessage(
            job_id=record.id,
            channel=record.channel,
            workspace_id=record.workspace_id,
            contact_id=record.contact_id,
            payload=record.payload,
            metadata=record.metadata,
            attempt=attempt,
        )
        try:
            async with self._limiter.slot(record.workspace_id) as waited:
                self._waits[batch_id] += waited
                called = time.monotonic()
                provider_id = await self._provider.send(message)
                self._observe_latency(time.monotonic() - called)
        except RetryableProviderError as exc:
            if exc.rate_limited:
                await self._hold_channel(exc.retry_after)
            return self._retry_or_fail(
                record, attempt, exc.message, exc.retry_after, exc.rate_limited
            )
        except PermanentProviderError as exc:
            return JobOutcome(record.id, Outcome.FAILED, exc.message)
        except StoreUnavailableError as exc:  # the limiter could not be reached: try later
            return self._retry_or_fail(record, attempt, str(exc), None, False)
        except Exception as exc:  # a provider bug must not lose the job: retry it
            logger.exception("provider %s failed on job %s", self._provider.name, record.id)
            return self._retry_or_fail(record, attempt, f"unexpected error: {exc!r}", None, False)
        return JobOutcome(record.id, Outcome.SENT, provider_id)

    def provider_latency_s(self) -> float:
        """The provider's mean answer time for messages it took, seconds (0 before any)."""
        return self.latency_s

    def _observe_latency(self, seconds: float) -> None:
        # An exponentially weighted mean, the first samples weighing more so it settles fast.
        self._latency_samples += 1
        weight = max(LATENCY_WEIGHT, 1 / self._latency_samples)
        self.latency_s += weight * (seconds - self.latency_s)

    def _retry_or_fail(
        self,
        record: JobRecord,
        attempt: int,
        error: str,
        retry_after: float | None,
        rate_limited: bool,
    ) -> JobOutcome:
        if attempt > self._config.max_retries:
            return JobOutcome(
                record.id,
                Outcome.FAILED,
                f"{error} (gave up after {attempt} attempts)",
                rate_limited=rate_limited,
            )
        delay_s = retry_delay_s(self._config, attempt, retry_after)
        return JobOutcome(
            record.id,
            Outcome.RETRY,
            error,
            retry_at_ms=now_ms() + int(delay_s * 1000),
            rate_limited=rate_limited,
        )

    async def _hold_channel(self, retry_after: float | None) -> None:
        hold_ms = int((retry_after if retry_after is not None else DEFAULT_RATE_HOLD_S) * 1000)
        with contextlib.suppress(StoreUnavailableError):
            await self._delivery.hold(self._config.channel, now_ms() + hold_ms, hold_ms)

    @contextlib.asynccontextmanager
    async def _leases(self, job_ids: list[str]) -> AsyncIterator[None]:
        """Renew the batch's leases every third of a lease while it is being sent."""
        interval_s = self._config.lease_ms / 3000

        async def renew() -> None:
            while True:
                await asyncio.sleep(interval_s)
                with contextlib.suppress(StoreUnavailableError):
                    await self._delivery.renew(
                        self._config.channel, job_ids, now_ms() + self._config.lease_ms
                    )

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _while_leased(
        self, call: Callable[..., Awaitable[ResultT]], *args: Any, **kwargs: Any
    ) -> ResultT:
        """`call`, tried again through a Redis outage for as long as a lease lasts (after that
        the batch is no longer ours); raises `StoreUnavailableError` if Redis stays away."""
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(StoreUnavailableError),
            wait=tenacity.wait_exponential(multiplier=0.1, max=2.0),
            stop=tenacity.stop_after_delay(self._config.lease_ms / 1000),
            reraise=True,
        )
        result: ResultT = await retrying(call, *args, **kwargs)
        return result

    async def _finish(
        self, batch_id: str, outcomes: Sequence[JobOutcome], duration_ms: int, waits: int
    ) -> None:
        # The messages are out: recording must not give up on a short Redis outage, or the
        # lease would expire and the batch be sent again.
        await self._while_leased(
            self._delivery.finish,
            self._config.channel,
            batch_id,
            outcomes,
            now_ms(),
            duration_ms=duration_ms,
            limiter_waits=waits,
        )
