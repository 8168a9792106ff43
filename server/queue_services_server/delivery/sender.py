"""The sender: what happens to one batch once the sending actor hands it over.

It takes the running of the batch (a batch whose broker message came twice runs once) and the
records of the jobs still its own, renews their leases from the start and drops those it has
lost; asks the pacer for slots a group at a time and sends each job at its slot through the
provider; and records outcomes as they come, a few at a time, so that a worker killed mid-batch
leaves only the sends that were at the provider to go again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tenacity

from queue_services._retries import backoff_s
from queue_services_server.delivery.config import ChannelConfig
from queue_services_server.delivery.pacer import ChannelPacer
from queue_services_server.delivery.providers._http import connections_for
from queue_services_server.delivery.providers.base import (
    OutboundMessage,
    PermanentProviderError,
    Provider,
    Release,
    RetryableProviderError,
)
from queue_services_server.store.connection import StoreUnavailableError
from queue_services_server.store.delivery import DeliveryStore, JobOutcome, Outcome
from queue_services_server.store.pacing import LOST, NO_SLOT
from queue_services_server.store.records import PROCESSING, JobRecord

logger = logging.getLogger("queue_services_server.sender")

ResultT = TypeVar("ResultT")

#: Answers of the provider seen before its latency sizes the sends at it at once (until then,
#: as many as the client's connections allow).
LATENCY_SAMPLES_TO_SIZE = 5

#: Weight of each new sample in the provider's mean latency.
LATENCY_WEIGHT = 0.05

#: Seconds an account is held back after a provider's 429 that gave no Retry-After.
DEFAULT_RATE_HOLD_S = 1.0

#: Outcomes are written when this many are waiting, or `RECORD_EVERY_S` after the first of them.
#: Under a limit the time decides (50 ms of sends); without one, a batch's sends end together and
#: this makes their writes two calls, not ten (measured: a tenth of the workers' CPU went to them).
RECORD_EVERY_SENDS = 25
RECORD_EVERY_S = 0.05

#: Names the account a workspace's messages go out through (`Settings.provider_account`).
AccountOf = Callable[[str], str]


def retry_delay_s(config: ChannelConfig, attempt: int, retry_after: float | None) -> float:
    """Seconds before attempt `attempt + 1`: the product's backoff from `retry_base_s`, capped at
    `retry_max_s`; never less than the provider's Retry-After."""
    delay = backoff_s(attempt, base_s=config.retry_base_s, max_s=config.retry_max_s)
    return max(delay, retry_after or 0.0)


class _LeaseLostError(Exception):
    """A job's lease was found gone when it asked for a new slot: it is not sent."""


@dataclass
class _Batch:
    """One batch being sent: its jobs, what is known of them, and the outcomes to write."""

    id: str
    runner: str
    workspace_id: str
    size: int
    records: dict[str, JobRecord]
    started: float = field(default_factory=time.monotonic)
    #: Jobs no longer the batch's (found by the pacer or a renewal): not sent from then on.
    lost: set[str] = field(default_factory=set)
    #: Jobs not finished yet, whose leases the renewals keep.
    unfinished: set[str] = field(default_factory=set)
    outcomes: list[JobOutcome] = field(default_factory=list)
    #: Sends that waited for their slot, since the last write.
    waits: int = 0
    recorded: int = 0
    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))


class BatchSender:
    """Sends the batches of one channel through one provider."""

    def __init__(
        self,
        config: ChannelConfig,
        delivery: DeliveryStore,
        pacer: ChannelPacer,
        provider: Provider,
        account_of: AccountOf = lambda workspace_id: "shared",
    ) -> None:
        self._config = config
        self._delivery = delivery
        self._pacer = pacer
        self._provider = provider
        self._account_of = account_of
        #: Sends of this process at the provider now, and the condition their end signals.
        self._at_provider = 0
        self._provider_free = asyncio.Condition()
        #: Sends waiting for room at the provider (the condition is used only while some are).
        self._room_waiters = 0
        self._max_connections = connections_for(config.rate_limit)
        #: When each send now at the provider was released to it (monotonic seconds).
        self._at_provider_since: dict[object, float] = {}
        #: The provider's answer time for a sent message, seconds, averaged (failures are left
        #: out: a timing-out provider must not make us take more jobs).
        self.latency_s = 0.0
        self._latency_samples = 0

    def provider_latency_s(self) -> float:
        """The provider's answer time, seconds: its mean for messages it took, or, if longer,
        how long the oldest send still at it has been waiting (so that the room follows a slow
        provider from its first sends, before any has come back)."""
        oldest = min(self._at_provider_since.values(), default=None)
        waited = 0.0 if oldest is None else time.monotonic() - oldest
        return max(self.latency_s, waited)

    async def send_batch(self, batch_id: str, job_ids: Sequence[str]) -> list[JobOutcome]:
        """Send the jobs of `batch_id` that are still its own; returns their outcomes."""
        runner = f"{os.uname().nodename}-{os.getpid()}-{id(self)}-{batch_id}"
        channel, lease_ms = self._config.channel, self._config.lease_ms
        try:
            lease = await self._while_leased(
                self._delivery.begin, channel, batch_id, runner, job_ids, lease_ms
            )
        except StoreUnavailableError as exc:
            # The batch's leases run out while Redis is away: its jobs go back on the schedule
            # and another batch sends them. Nothing was sent, so nothing is lost.
            logger.warning("batch %s left to its lease: %s", batch_id, exc)
            return []
        if not lease.held:
            logger.info("batch %s is already being sent: this copy of it does nothing", batch_id)
            return []
        records = [r for r in lease.records if r.status == PROCESSING and r.batch_id == batch_id]
        if not records:
            return []
        batch = _Batch(
            batch_id,
            runner,
            records[0].workspace_id,
            len(job_ids),
            {record.id: record for record in records},
        )
        batch.unfinished = set(batch.records)
        async with self._renewals(batch), self._recorder(batch) as record:
            await self._pace_and_send(batch, record)
        self._log(batch)
        return batch.outcomes

    # ---- pacing and sending ------------------------------------------------------------------

    async def _pace_and_send(self, batch: _Batch, record: Callable[[JobOutcome], None]) -> None:
        account = self._account_of(batch.workspace_id)
        pending = list(batch.records.values())
        sends: list[asyncio.Task[None]] = []
        limit = asyncio.Semaphore(
            self._config.concurrency if self._config.rate_limit <= 0 else len(pending)
        )
        while pending:
            pending = [job for job in pending if job.id not in batch.lost]
            if not pending:
                break
            try:
                given = await self._while_leased(
                    self._pacer.slots,
                    batch.id,
                    batch.workspace_id,
                    account,
                    [(job.id, job.scheduled_for) for job in pending],
                )
            except StoreUnavailableError as exc:
                # Away for a whole lease: the jobs not sent are another batch's by now.
                logger.warning(
                    "batch %s: %d jobs left to their lease: %s", batch.id, len(pending), exc
                )
                break
            arrived = time.monotonic()
            waiting = []
            for job, slot in zip(pending, given.slots, strict=True):
                if slot == LOST:
                    batch.lost.add(job.id)
                    batch.unfinished.discard(job.id)
                elif slot == NO_SLOT:
                    waiting.append(job)
                else:
                    at = self._pacer.local_time(slot, arrived)
                    batch.waits += at - arrived > 0.001
                    key = (batch.id, job.id)
                    self._pacer.expect(key, at)
                    send = asyncio.create_task(
                        self._send_at(batch, job, account, at, given.paced, limit, record)
                    )
                    # However it ended, its slot is no longer waited for.
                    send.add_done_callback(functools.partial(self._forget_slot, key))
                    sends.append(send)
            pending = waiting
            if pending:
                await asyncio.sleep(max(given.wait_ms, 1) / 1000)
        for failure in await asyncio.gather(*sends, return_exceptions=True):
            if isinstance(failure, BaseException):
                logger.error("batch %s: a send failed", batch.id, exc_info=failure)

    async def _send_at(
        self,
        batch: _Batch,
        job: JobRecord,
        account: str,
        at: float,
        paced: bool,
        limit: asyncio.Semaphore,
        record: Callable[[JobOutcome], None],
    ) -> None:
        # Started a lead before the slot, so that the connection is ready when the slot comes.
        # (A send due now does not sleep at all: a yield to the loop costs more than the send.)
        early_s = at - self._pacer.lead_s() - time.monotonic()
        if early_s > 0:
            await asyncio.sleep(early_s)
        if job.id in batch.lost:
            return  # a renewal found its lease gone: another batch has it now

        async def reslot() -> float:
            while True:
                given = await self._pacer.slots(
                    batch.id,
                    batch.workspace_id,
                    account,
                    [(job.id, job.scheduled_for)],
                    in_turn=False,
                )
                arrived = time.monotonic()
                [slot] = given.slots
                if slot == LOST:
                    raise _LeaseLostError(job.id)
                if slot != NO_SLOT:
                    return self._pacer.local_time(slot, arrived)
                await asyncio.sleep(max(given.wait_ms, 1) / 1000)

        async with limit, self._provider_room():
            try:
                outcome = await self._send_one(
                    batch, job, self._pacer.release(at, reslot, paced=paced)
                )
            except _LeaseLostError:
                batch.lost.add(job.id)
                batch.unfinished.discard(job.id)
                return
            except StoreUnavailableError as exc:  # no new slot: nothing was sent, try later
                outcome = self._retry_or_fail(job, job.attempts + 1, str(exc), None, False)
        record(outcome)

    async def _send_one(self, batch: _Batch, record: JobRecord, release: Release) -> JobOutcome:
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
        released: list[float] = []

        async def release_then_time(connected_at: float | None = None) -> None:
            self._pacer.forget((batch.id, record.id))
            await release(connected_at)
            released.append(time.monotonic())
            self._at_provider_since[token] = released[0]

        token = object()
        try:
            provider_id = await self._provider.send(message, release=release_then_time)
            if released:
                self._observe_latency(time.monotonic() - released[0])
        except RetryableProviderError as exc:
            if exc.rate_limited:
                hold_s = exc.retry_after if exc.retry_after is not None else DEFAULT_RATE_HOLD_S
                await self._pacer.hold(
                    record.workspace_id, self._account_of(record.workspace_id), hold_s
                )
            return self._retry_or_fail(
                record, attempt, exc.message, exc.retry_after, exc.rate_limited
            )
        except PermanentProviderError as exc:
            return JobOutcome(record.id, Outcome.FAILED, exc.message)
        except (_LeaseLostError, StoreUnavailableError):
            raise
        except Exception as exc:  # a provider bug must not lose the job: retry it
            logger.exception("provider %s failed on job %s", self._provider.name, record.id)
            return self._retry_or_fail(record, attempt, f"unexpected error: {exc!r}", None, False)
        finally:
            self._at_provider_since.pop(token, None)
        return JobOutcome(record.id, Outcome.SENT, provider_id)

    def _forget_slot(self, key: object, _: object) -> None:
        self._pacer.forget(key)

    def latency_rising(self) -> bool:
        """Whether the provider's latency, as the room follows it, may still be rising: no answer
        has come back yet, or a send still at the provider has waited longer than the mean."""
        return self._latency_samples == 0 or self.provider_latency_s() > self.latency_s

    def room_at_provider(self) -> int:
        """Sends this process keeps at the provider at once, by Little's law: the rate times the
        time each holds its connection (the lead before its slot and the provider's latency),
        with a fifth more and a few, within its client's connections. A
        provider slower than the slots, or this process's CPU, then makes sends wait here, in
        slot order, rather than in the HTTP client's pool, whose work per request grows with
        every connection it holds (measured: twice the throughput with 55 rather than 105)."""
        rate = self._config.rate_limit
        if rate <= 0 or self._latency_samples < LATENCY_SAMPLES_TO_SIZE:
            return self._max_connections
        wanted = math.ceil(rate * (self._pacer.lead_s() + self.latency_s) * 1.2) + 5
        return min(wanted, self._max_connections)

    @contextlib.asynccontextmanager
    async def _provider_room(self) -> AsyncIterator[None]:
        # Without a wait (the common case), no lock: the loop runs one task at a time.
        if self._room_waiters or self._at_provider >= self.room_at_provider():
            self._room_waiters += 1
            try:
                async with self._provider_free:
                    await self._provider_free.wait_for(
                        lambda: self._at_provider < self.room_at_provider()
                    )
            finally:
                self._room_waiters -= 1
        self._at_provider += 1
        try:
            yield
        finally:
            self._at_provider -= 1
            if self._room_waiters:
                async with self._provider_free:
                    self._provider_free.notify()

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
            retry_in_ms=int(delay_s * 1000),
            rate_limited=rate_limited,
        )

    # ---- leases and records ------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _renewals(self, batch: _Batch) -> AsyncIterator[None]:
        """Renew the leases of the batch's unfinished jobs every third of a lease; jobs found no
        longer the batch's are not sent."""
        interval_s = self._config.lease_ms / 3000

        async def renew() -> None:
            while True:
                await asyncio.sleep(interval_s)
                if not batch.unfinished:
                    continue
                try:
                    lease = await self._delivery.renew(
                        self._config.channel,
                        batch.id,
                        batch.runner,
                        sorted(batch.unfinished),
                        self._config.lease_ms,
                    )
                except StoreUnavailableError:
                    continue
                lost = set(batch.unfinished) if not lease.held else set(lease.lost)
                if lost:
                    logger.warning("batch %s: %d jobs no longer its own", batch.id, len(lost))
                batch.lost |= lost
                batch.unfinished -= lost

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.asynccontextmanager
    async def _recorder(self, batch: _Batch) -> AsyncIterator[Callable[[JobOutcome], None]]:
        """Outcomes are written as they come, `RECORD_EVERY_SENDS` at a time or
        `RECORD_EVERY_S` after the first waits; the batch's last write counts the batch."""
        waiting: list[JobOutcome] = []
        ready = asyncio.Event()

        def add(outcome: JobOutcome) -> None:
            waiting.append(outcome)
            batch.outcomes.append(outcome)
            batch.counts[outcome.outcome] += 1
            ready.set()

        async def write(last: bool) -> None:
            group = waiting[:]
            del waiting[: len(group)]
            waits, batch.waits = batch.waits, 0
            duration_ms = int((time.monotonic() - batch.started) * 1000)
            # The messages are out: recording must not give up on a short Redis outage, or the
            # lease would expire and they would be sent again.
            await self._while_leased(
                self._delivery.finish,
                self._config.channel,
                batch.id,
                group,
                last=last,
                batch_size=batch.size,
                duration_ms=duration_ms,
                limiter_waits=waits,
            )
            batch.unfinished -= {outcome.job_id for outcome in group}
            batch.recorded += len(group)

        closing = asyncio.Event()

        async def gathered() -> None:
            """Until `RECORD_EVERY_SENDS` outcomes wait, or `RECORD_EVERY_S` has passed."""
            deadline = asyncio.get_running_loop().time() + RECORD_EVERY_S
            while len(waiting) < RECORD_EVERY_SENDS and not closing.is_set():
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    return
                ready.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ready.wait(), left)

        async def run() -> None:
            # Ended by `closing`, not by cancelling it: a write under way is let finish.
            while not closing.is_set():
                await ready.wait()
                await gathered()
                ready.clear()
                if waiting and not closing.is_set():
                    try:
                        await write(last=False)
                    except StoreUnavailableError as exc:
                        logger.warning("batch %s: outcomes not written yet: %s", batch.id, exc)

        task = asyncio.create_task(run())
        try:
            yield add
        finally:
            closing.set()
            ready.set()
            await task
            try:
                await write(last=True)
            except StoreUnavailableError as exc:
                logger.warning("batch %s left to its lease: %s", batch.id, exc)

    async def _while_leased(
        self, call: Callable[..., Awaitable[ResultT]], *args: Any, **kwargs: Any
    ) -> ResultT:
        """`call`, tried again through a Redis outage for as long as a lease lasts (after that
        the batch is no longer ours); raises `StoreUnavailableError` if Redis stays away."""
        try:
            # The common case goes straight through: tenacity's machinery costs more CPU than
            # the Redis call, and this runs a few times per batch.
            return await call(*args, **kwargs)
        except StoreUnavailableError:
            pass
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(StoreUnavailableError),
            wait=tenacity.wait_exponential(multiplier=0.1, max=2.0),
            stop=tenacity.stop_after_delay(self._config.lease_ms / 1000),
            reraise=True,
        )
        result: ResultT = await retrying(call, *args, **kwargs)
        return result

    def _log(self, batch: _Batch) -> None:
        fields = {
            "channel": self._config.channel,
            "workspace": batch.workspace_id,
            "size": len(batch.records),
            "sent": batch.counts[Outcome.SENT],
            "retry": batch.counts[Outcome.RETRY],
            "failed": batch.counts[Outcome.FAILED],
            "lost": len(batch.lost),
            "late": self._pacer.late_sends,
            "lead_ms": int(self._pacer.lead_s() * 1000),
            "duration_ms": int((time.monotonic() - batch.started) * 1000),
        }
        # The text line carries every field; JSON logs get them as keys of their own.
        logger.info(
            "batch " + " ".join(f"{name}={value}" for name, value in fields.items()), extra=fields
        )
