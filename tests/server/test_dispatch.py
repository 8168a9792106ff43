"""Claims and outcomes on a real Redis: fairness, priorities, leases, cancel, lookahead."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
import redis as redis_lib
import redis.asyncio as aioredis

from queue_services_server.delivery.config import ChannelConfig
from queue_services_server.delivery.dispatch import Dispatcher
from queue_services_server.delivery.providers.base import OutboundMessage, RetryableProviderError
from queue_services_server.delivery.rate_limiter import Limit, RateLimiter
from queue_services_server.delivery.sender import BatchSender
from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from queue_services_server.store.delivery import DeliveryStore, JobOutcome, Outcome
from queue_services_server.store.jobs import JobStore
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.records import JobRecord

KEYS = KeySpace("qs")
NOW = 1_764_000_000_000


@pytest.fixture
async def stores(
    redis_server: EmbeddedRedis, redis: redis_lib.Redis
) -> AsyncIterator[tuple[JobStore, DeliveryStore]]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield JobStore(client, KEYS), DeliveryStore(client, KEYS)
    await client.aclose()


def job(workspace: str, index: int, *, due: int = NOW, priority: str = "normal") -> JobRecord:
    body = orjson.dumps(
        {"payload": {"phoneNumber": "+14155550123", "message": "x"}, "metadata": {}}
    )
    return JobRecord(
        id=f"{workspace}-{priority}-{index}",
        channel="sms",
        workspace_id=workspace,
        priority=priority,
        status="SCHEDULED",
        created_at=NOW - 1000,
        updated_at=NOW - 1000,
        scheduled_for=due,
        digest="d",
        body=body.decode(),
    )


async def claim(delivery: DeliveryStore, now: int = NOW, size: int = 10, **options: int):  # type: ignore[no-untyped-def]
    return await delivery.claim(
        "sms",
        batch_id=uuid.uuid4().hex[:8],
        now_ms=now,
        lookahead_ms=options.get("lookahead_ms", 0),
        batch_size=size,
        max_in_flight=options.get("max_in_flight", 0),
        lease_ms=options.get("lease_ms", 30_000),
    )


async def test_workspaces_take_turns_and_batches_hold_one_workspace(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    jobs, delivery = stores
    await jobs.create([job("big", i) for i in range(50)] + [job("small", i) for i in range(3)])

    turns = [await claim(delivery) for _ in range(4)]

    assert [c.workspace_id for c in turns] == ["big", "small", "big", "big"]
    assert [len(c.jobs) for c in turns] == [10, 3, 10, 10]
    assert all({j.workspace_id for j in c.jobs} == {c.workspace_id} for c in turns)


async def test_high_priority_is_taken_first_within_a_workspace(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    jobs, delivery = stores
    await jobs.create(
        [job("ws", i) for i in range(20)] + [job("ws", i, priority="high") for i in range(2)]
    )

    first = await claim(delivery, size=5)

    assert [j.priority for j in first.jobs] == ["high", "high", "normal", "normal", "normal"]


async def test_jobs_not_yet_due_stay_on_the_schedule(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    jobs, delivery = stores
    await jobs.create([job("ws", 0, due=NOW + 5000), job("ws", 1, due=NOW + 100)])

    early = await claim(delivery)
    within_lookahead = await claim(delivery, lookahead_ms=200)

    assert early.jobs == []
    assert early.next_due_ms == NOW + 100
    assert [j.id for j in within_lookahead.jobs] == ["ws-normal-1"]
    assert within_lookahead.next_due_ms == NOW + 5000


async def test_taken_jobs_are_processing_and_no_longer_cancellable(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    jobs, delivery = stores
    await jobs.create([job("ws", 0), job("ws", 1)])
    await jobs.cancel("ws-normal-1", NOW)

    taken = await claim(delivery)
    cancel_after = await jobs.cancel("ws-normal-0", NOW)

    assert [j.id for j in taken.jobs] == ["ws-normal-0"]  # the cancelled one is skipped
    assert taken.jobs[0].status == "PROCESSING"
    assert taken.jobs[0].batch_id == taken.batch_id
    assert cancel_after[0].name == "NOT_CANCELLABLE"


async def test_in_flight_bound_holds_back_new_batches(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    jobs, delivery = stores
    await jobs.create([job("ws", i) for i in range(30)])

    first = await claim(delivery, size=10, max_in_flight=15)
    second = await claim(delivery, size=10, max_in_flight=15)
    third = await claim(delivery, size=10, max_in_flight=15)

    assert [len(first.jobs), len(second.jobs), len(third.jobs)] == [10, 5, 0]


async def test_an_expired_lease_puts_the_job_back_and_its_old_batch_is_ignored(
    stores: tuple[JobStore, DeliveryStore], redis: redis_lib.Redis
) -> None:
    # Given a batch taken by a worker that then died
    jobs, delivery = stores
    await jobs.create([job("ws", 0)])
    lost = await claim(delivery, lease_ms=1000)

    # When its lease has expired, the job is taken again in a new batch
    again = await claim(delivery, now=NOW + 1001)

    # Then the old batch's late report changes nothing, and the new one completes the job
    assert [j.id for j in again.jobs] == ["ws-normal-0"]
    stale = JobOutcome("ws-normal-0", Outcome.SENT, "late-id")
    assert await delivery.finish("sms", lost.batch_id, [stale], NOW + 1002) == 0
    fresh = JobOutcome("ws-normal-0", Outcome.SENT, "provider-1")
    assert await delivery.finish("sms", again.batch_id, [fresh], NOW + 1003) == 1
    record = await jobs.get("ws-normal-0")
    assert record is not None
    assert (record.status, record.provider_message_id, record.attempts) == (
        "COMPLETED",
        "provider-1",
        1,
    )
    assert redis.zcard(KEYS.inflight("sms")) == 0


async def test_finish_retries_and_fails_and_records_rate_limits(
    stores: tuple[JobStore, DeliveryStore], redis: redis_lib.Redis
) -> None:
    jobs, delivery = stores
    await jobs.create([job("ws", 0), job("ws", 1)])
    taken = await claim(delivery)

    await delivery.finish(
        "sms",
        taken.batch_id,
        [
            JobOutcome(
                "ws-normal-0", Outcome.RETRY, "429 slow down", NOW + 2000, rate_limited=True
            ),
            JobOutcome("ws-normal-1", Outcome.FAILED, "400 invalid number"),
        ],
        NOW + 10,
    )

    retried, failed = await jobs.get_many(["ws-normal-0", "ws-normal-1"])
    assert retried is not None
    assert failed is not None
    assert (retried.status, retried.scheduled_for, retried.last_error) == (
        "SCHEDULED",
        NOW + 2000,
        "429 slow down",
    )
    assert redis.zscore(KEYS.schedule("sms"), "ws-normal-0") == NOW + 2000
    assert (failed.status, failed.last_error) == ("FAILED", "400 invalid number")
    events = await delivery.rate_events("ws", "sms")
    assert events == [{"timestamp": NOW + 10, "batchSize": 2, "errorMessage": "429 slow down"}]


async def test_lua_builds_the_key_names_of_keys_py(
    stores: tuple[JobStore, DeliveryStore], redis: redis_lib.Redis
) -> None:
    jobs, delivery = stores
    await jobs.create([job("ws-1", i) for i in range(3)])

    await claim(delivery, size=1)

    names = {key.decode() for key in redis.keys("*")}
    assert KEYS.lane("sms", "ws-1", "normal") in names
    assert KEYS.ready("sms") in names
    assert KEYS.inflight("sms") in names


async def test_the_dispatcher_hands_batches_over_and_sleeps_until_the_next_due_job(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    jobs, delivery = stores
    config = ChannelConfig.from_settings(Settings(), "sms")
    handed: list[tuple[str, str, list[str]]] = []
    dispatcher = Dispatcher(delivery, config, lambda *batch: handed.append(batch))
    now = time.time_ns() // 1_000_000
    await jobs.create([job("ws", 0, due=now - 10), job("ws", 1, due=now + 60_000)])

    first = await dispatcher.step()
    second = await dispatcher.step()

    assert first == 0.0
    assert [ids for _, _, ids in handed] == [["ws-normal-0"]]
    assert 0.9 <= second <= 1.0  # next job a minute away: look again within the idle second


async def test_a_batch_the_broker_refused_comes_back_after_its_lease_and_the_dispatcher_goes_on(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    # Given a due job, and a broker whose Redis is away for the first hand-over
    jobs, delivery = stores
    config = dataclasses.replace(
        ChannelConfig.from_settings(Settings(), "sms"), lease_ms=200, lookahead_ms=0
    )
    handed: list[list[str]] = []
    second_hand_over = asyncio.Event()

    def enqueue(channel: str, batch_id: str, job_ids: list[str]) -> None:
        if not handed:
            handed.append([])
            raise redis_lib.exceptions.ConnectionError("Connection refused")
        handed.append(job_ids)
        second_hand_over.set()

    dispatcher = Dispatcher(delivery, config, enqueue)
    await jobs.create([job("ws", 0, due=time.time_ns() // 1_000_000 - 10)])

    # When the dispatcher runs for a while
    task = asyncio.create_task(dispatcher.run())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(second_hand_over.wait(), 10)
    dispatcher.stop()
    await asyncio.wait_for(task, 5)

    # Then the refused batch's job came back when its lease ended and went out in a new batch
    assert handed == [[], ["ws-normal-0"]]


@pytest.mark.parametrize(
    ("latency_s", "room", "concurrency"),
    [
        (0.0, 12, 5),  # an instant provider: a quarter second of 50/s, 5 at once
        (0.002, 12 + 2, 5),
        (0.3, 12 + 2 * 15, 30),  # 15 SMS at the provider at any time, twice over
        (1.0, 12 + 2 * 50, 50),  # sends at once: at most a batch
        (30.0, 12 + 2 * 100, 50),  # a provider slower than 2 s is failing: sized as for 2 s
    ],
)
def test_with_a_rate_limit_room_and_sends_at_once_follow_the_provider_latency(
    latency_s: float, room: int, concurrency: int
) -> None:
    config = ChannelConfig.from_settings(Settings(sms_rate_limit=50, rate_limit_margin_ms=0), "sms")

    assert config.room_for(latency_s) == room
    assert config.concurrency_for(latency_s) == concurrency


def test_an_explicit_room_or_no_rate_limit_keeps_them_fixed() -> None:
    fixed = ChannelConfig.from_settings(
        Settings(sms_rate_limit=50, dispatch_max_in_flight=30), "sms"
    )
    unlimited = ChannelConfig.from_settings(Settings(sms_rate_limit=0), "sms")

    assert (fixed.room_for(1.0), fixed.concurrency_for(1.0)) == (30, 5)
    assert (unlimited.room_for(1.0), unlimited.concurrency_for(1.0)) == (50 * 20, 5)


class SlowProvider:
    """Takes "ok" messages after 50 ms; fails the others after 500 ms."""

    name = "slow"

    async def send(self, message: OutboundMessage) -> str:
        if message.job_id.endswith("-ok"):
            await asyncio.sleep(0.05)
            return "m-" + message.job_id
        await asyncio.sleep(0.5)
        raise RetryableProviderError("timed out")

    async def aclose(self) -> None:
        pass


async def test_the_sender_learns_the_providers_latency_from_the_messages_it_took(
    stores: tuple[JobStore, DeliveryStore], aredis: aioredis.Redis
) -> None:
    # Given a batch of six messages, three of which the provider takes in 50 ms and three it
    # fails after 500 ms
    jobs, delivery = stores
    records = [dataclasses.replace(job("ws", n), id=f"ws-{n}-ok") for n in range(3)]
    records += [dataclasses.replace(job("ws", n), id=f"ws-{n}-bad") for n in range(3)]
    await jobs.create(records)
    batch = await claim(delivery, now=time.time_ns() // 1_000_000, size=10)
    config = ChannelConfig.from_settings(Settings(sms_rate_limit=50), "sms")
    limiter = RateLimiter(aredis, KEYS, "sms", Limit(50))
    sender = BatchSender(config, jobs, delivery, limiter, SlowProvider())

    # When it sends them
    outcomes = await sender.send_batch(batch.batch_id, [record.id for record in batch.jobs])

    # Then its latency is that of the messages taken: failures (a timing-out provider) do not
    # make it take more jobs
    assert sorted(outcome.outcome.value for outcome in outcomes) == ["retry"] * 3 + ["sent"] * 3
    assert 0.04 <= sender.provider_latency_s() < 0.15  # with the failures it would be ~0.27
