"""Operator views and actions on a real Redis: status indexes, counts, pages, retry, send now,
pause, clean."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis as redis_lib
import redis.asyncio as aioredis

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.store.delivery import DeliveryStore, JobOutcome, Outcome
from queue_services_server.store.jobs import JobStore
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.operations import ActionOutcome, OperatorStore
from queue_services_server.store.records import STATUSES
from queue_services_server.store.schedules import scheduled_in_due_order
from tests.server.test_dispatch import job, now_ms

KEYS = KeySpace("qs")


@pytest.fixture
async def stores(
    redis_server: EmbeddedRedis, redis: redis_lib.Redis
) -> AsyncIterator[tuple[JobStore, DeliveryStore, OperatorStore]]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield JobStore(client, KEYS), DeliveryStore(client, KEYS), OperatorStore(client, KEYS)
    await client.aclose()


async def claim(delivery: DeliveryStore, size: int = 10):  # type: ignore[no-untyped-def]
    return await delivery.claim(
        "sms", batch_id=uuid.uuid4().hex[:8], lookahead_ms=0, batch_size=size,
        max_in_flight=0, lease_ms=30_000, tier_window_ms=1000, max_lease_expiries=5,
    )  # fmt: skip


async def finish(delivery: DeliveryStore, batch_id: str, outcomes: list[JobOutcome]) -> int:
    return await delivery.finish("sms", batch_id, outcomes, last=True, batch_size=len(outcomes))


def statuses_in_indexes(redis: redis_lib.Redis) -> dict[str, str]:
    """Where each job is: in a status index, or (SCHEDULED) on a schedule, which the SCHEDULED
    count must then count."""
    where: dict[str, str] = {}
    places = {status: [KEYS.state("sms", status)] for status in STATUSES if status != "SCHEDULED"}
    places["SCHEDULED"] = [key.decode() for key in redis.scan_iter(KEYS.prefix + ":schedule:*")]
    for status, indexes in places.items():
        for index in indexes:
            for member in redis.zrange(index, 0, -1):
                assert member.decode() not in where, f"{member!r} is in two status indexes"
                where[member.decode()] = status
    scheduled = sum(1 for status in where.values() if status == "SCHEDULED")
    assert int(redis.get(KEYS.scheduled_count("sms")) or 0) == scheduled
    return where


async def test_every_job_is_in_the_index_of_its_status_through_its_life(
    stores: tuple[JobStore, DeliveryStore, OperatorStore], redis: redis_lib.Redis
) -> None:
    now = now_ms()  # fresh for each test: the suite runs for minutes
    jobs, delivery, _ = stores
    await jobs.create([job("ws", i) for i in range(6)] + [job("ws", 9, due=now + 60_000)])
    await jobs.cancel("ws-normal-5", now)
    taken = await claim(delivery, size=4)
    await finish(delivery, taken.batch_id, [
        JobOutcome("ws-normal-0", Outcome.SENT, "p-0"),
        JobOutcome("ws-normal-1", Outcome.FAILED, "400"),
        JobOutcome("ws-normal-2", Outcome.RETRY, "500", 1000),
    ])  # fmt: skip

    records = await jobs.get_many([f"ws-normal-{i}" for i in (0, 1, 2, 3, 4, 5, 9)])
    expected = {record.id: record.status for record in records if record}
    assert statuses_in_indexes(redis) == expected
    assert expected["ws-normal-3"] == "PROCESSING"


async def test_counts_split_scheduled_into_delayed_and_waiting(
    stores: tuple[JobStore, DeliveryStore, OperatorStore],
) -> None:
    now = now_ms()  # fresh for each test: the suite runs for minutes
    jobs, _, operator = stores
    await jobs.create([job("ws", 0), job("ws", 1, due=now + 5000)])

    counts = (await operator.counts(now))["sms"]

    assert (counts["SCHEDULED"], counts["delayed"], counts["waiting"]) == (2, 1, 1)
    assert counts["paused"] == 0


async def test_pages_are_newest_first_and_filters_apply(
    stores: tuple[JobStore, DeliveryStore, OperatorStore],
) -> None:
    jobs, _, operator = stores
    await jobs.create([job("ws-a", i) for i in range(5)] + [job("ws-b", i) for i in range(3)])

    first = await operator.page("sms", "SCHEDULED", offset=0, limit=3)
    rest = await operator.page("sms", "SCHEDULED", offset=first.next_offset or 0, limit=10)
    only_b = await operator.page(
        "sms", "SCHEDULED", offset=0, limit=10, match=lambda r: r.workspace_id == "ws-b"
    )

    assert first.total == 8
    assert len(first.jobs) + len(rest.jobs) == 8
    assert rest.next_offset is None
    assert {r.workspace_id for r in only_b.jobs} == {"ws-b"}
    assert len(only_b.jobs) == 3


async def test_scheduled_jobs_are_listed_next_due_first_across_workspaces_and_priorities(
    stores: tuple[JobStore, DeliveryStore, OperatorStore], redis_server: EmbeddedRedis
) -> None:
    now = now_ms()
    jobs, _, operator = stores
    # one workspace's big campaign due soon, others' few jobs spread among and after it
    created = [job("ws-a", i, due=now + 60_000 + i * 10) for i in range(300)]
    created += [job("ws-b", i, due=now + 60_005 + i * 700) for i in range(8)]
    created += [job("ws-c", i, due=now + 50_000 + i * 3_000, priority="high") for i in range(5)]
    created += [job("ws-a", i, due=now + 59_000 + i, priority="low") for i in range(3)]
    await jobs.create(created)
    by_due = [record.id for record in sorted(created, key=lambda r: (r.scheduled_for, r.id))]

    pages, offset = [], 0
    while True:
        page = await operator.page("sms", "SCHEDULED", offset=offset, limit=37)
        assert page.total == len(created)
        pages += [record.id for record in page.jobs]
        if page.next_offset is None:
            break
        offset = page.next_offset

    assert pages == by_due
    client = aioredis.Redis.from_url(redis_server.url)
    assert await scheduled_in_due_order(client, KEYS, "sms", 12) == by_due[:12]
    await client.aclose()


async def test_retry_send_now_and_their_refusals(
    stores: tuple[JobStore, DeliveryStore, OperatorStore], redis: redis_lib.Redis
) -> None:
    now = now_ms()  # fresh for each test: the suite runs for minutes
    jobs, delivery, operator = stores
    await jobs.create([job("ws", 0), job("ws", 1, due=now + 60_000)])
    taken = await claim(delivery)
    await finish(delivery, taken.batch_id, [JobOutcome("ws-normal-0", Outcome.FAILED, "400")])

    retried, record = await operator.retry("ws-normal-0", now + 10)
    again, _ = await operator.retry("ws-normal-0", now + 11)
    now_sent, moved = await operator.send_now("ws-normal-1", now + 12)
    missing, _ = await operator.retry("nope", now)

    assert retried is ActionOutcome.DONE
    assert record is not None
    assert (record.status, record.scheduled_for, record.last_error) == (
        "SCHEDULED",
        now + 10,
        "400",
    )
    assert again is ActionOutcome.WRONG_STATUS
    assert now_sent is ActionOutcome.DONE
    assert moved is not None
    assert redis.zscore(KEYS.workspace_schedule("sms", "ws", "normal"), "ws-normal-1") == now + 12
    assert missing is ActionOutcome.NOT_FOUND
    assert statuses_in_indexes(redis) == {"ws-normal-0": "SCHEDULED", "ws-normal-1": "SCHEDULED"}


async def test_a_paused_channel_gives_no_batch_until_resumed(
    stores: tuple[JobStore, DeliveryStore, OperatorStore],
) -> None:
    jobs, delivery, operator = stores
    await jobs.create([job("ws", 0)])

    await operator.set_paused("sms", True)
    paused = await claim(delivery)
    await operator.set_paused("sms", False)
    resumed = await claim(delivery)

    assert paused.jobs == []
    assert [j.id for j in resumed.jobs] == ["ws-normal-0"]


async def test_clean_deletes_old_finished_jobs_only(
    stores: tuple[JobStore, DeliveryStore, OperatorStore], redis: redis_lib.Redis
) -> None:
    now = now_ms()  # fresh for each test: the suite runs for minutes
    jobs, delivery, operator = stores
    await jobs.create([job("ws", i) for i in range(3)])
    taken = await claim(delivery)
    await finish(delivery, taken.batch_id, [
        JobOutcome("ws-normal-0", Outcome.SENT, "p"),
        JobOutcome("ws-normal-1", Outcome.SENT, "p"),
        JobOutcome("ws-normal-2", Outcome.FAILED, "400"),
    ])  # fmt: skip

    deleted = await operator.clean(
        "sms", "COMPLETED", older_than_ms=60_000, now_ms=now_ms() + 61_000
    )

    assert deleted == 2
    assert await jobs.get("ws-normal-0") is None
    assert redis.zcard(KEYS.workspace_jobs("ws")) == 1
    assert (await jobs.get("ws-normal-2")) is not None
    assert await operator.clean("sms", "FAILED", older_than_ms=60_000, now_ms=now + 1000) == 0
    with pytest.raises(ValueError, match="COMPLETED"):
        await operator.clean("sms", "SCHEDULED", older_than_ms=0, now_ms=now)
