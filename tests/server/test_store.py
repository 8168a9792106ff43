"""JobStore on a real Redis: creation in chunks, idempotent ids, cancel, listing cursors."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import orjson
import pytest
import redis as redis_lib
import redis.asyncio as aioredis

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.store.ids import JOB_ID_LENGTH, job_id_for_key, new_job_id
from queue_services_server.store.jobs import (
    CANCEL_CHUNK_SIZE,
    CREATE_CHUNK_SIZE,
    CancelCounts,
    CancelOutcome,
    CreateOutcome,
    Cursor,
    JobStore,
)
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.records import JobRecord
from tests.stored import set_status

KEYS = KeySpace()

NOW = 1_764_000_000_000
#: The schedule of ws-1's normal-priority SMS, where `record` jobs wait.
SCHEDULE = KEYS.workspace_schedule("sms", "ws-1", "normal")


@pytest.fixture
async def store(redis_server: EmbeddedRedis, redis: redis_lib.Redis) -> AsyncIterator[JobStore]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield JobStore(client, KEYS)
    await client.aclose()


def record(
    job_id: str, *, workspace: str = "ws-1", digest: str = "d1", created: int = NOW
) -> JobRecord:
    body = orjson.dumps(
        {"payload": {"phoneNumber": "+14155550123", "message": "Hi"}, "metadata": {}}
    )
    return JobRecord(
        id=job_id,
        channel="sms",
        workspace_id=workspace,
        priority="normal",
        status="SCHEDULED",
        created_at=created,
        updated_at=created,
        scheduled_for=created + 60_000,
        digest=digest,
        body=body.decode(),
    )


def first_release_form(job: JobRecord) -> bytes:
    """`job` as the first release stored it: one JSON object, the id and the body inside."""
    fields = {
        "id": job.id,
        "channel": job.channel,
        "workspaceId": job.workspace_id,
        "priority": job.priority,
        "status": job.status,
        "attempts": job.attempts,
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
        "scheduledFor": job.scheduled_for,
        "digest": job.digest,
        "body": job.body,
    }
    return orjson.dumps(fields)


def test_a_record_is_its_fields_a_newline_and_the_body_as_sent() -> None:
    body = '{"payload":{"to":"a@example.com","html":"<p class=\\"x\\">\\n</p>"},"metadata":{}}'
    job = dataclasses.replace(record("job-1", digest=""), body=body)

    raw = job.encode()

    fields, newline, stored_body = raw.partition(b"\n")
    assert newline
    assert stored_body.decode() == body  # byte for byte, nothing escaped again
    assert orjson.loads(fields) == {  # no id (the key's), nothing at its usual value
        "channel": "sms",
        "workspaceId": "ws-1",
        "status": "SCHEDULED",
        "createdAt": NOW,
        "scheduledFor": NOW + 60_000,
    }
    assert JobRecord.decode("job-1", raw) == job
    changed = dataclasses.replace(
        job, priority="high", attempts=2, updated_at=NOW + 5, digest="d1", last_error="a\nb"
    )
    assert JobRecord.decode("job-1", changed.encode()) == changed


async def test_records_of_the_first_release_are_read_and_rewritten_in_the_new_form(
    store: JobStore, redis: redis_lib.Redis
) -> None:
    old = dataclasses.replace(record("job-1"), body='{"payload":{"message":"a \\"b\\""}}')
    await store.create([old])
    redis.set(KEYS.job("job-1"), first_release_form(old))
    assert await store.get("job-1") == old

    outcome, cancelled = await store.cancel("job-1", NOW + 5)  # a script reads and writes it

    assert outcome is CancelOutcome.CANCELLED
    raw = redis.get(KEYS.job("job-1"))
    assert raw is not None
    assert raw.endswith(b"\n" + old.body.encode())
    assert cancelled == JobRecord.decode("job-1", raw)
    assert cancelled == dataclasses.replace(old, status="CANCELLED", updated_at=NOW + 5)


async def test_create_stores_records_as_laid_out_in_keys_py(
    store: JobStore, redis: redis_lib.Redis
) -> None:
    [created] = await store.create([record("job-1")])

    assert created.outcome is CreateOutcome.CREATED
    assert JobRecord.decode("job-1", redis.get(KEYS.job("job-1"))) == record("job-1")
    assert redis.zscore(SCHEDULE, "job-1") == NOW + 60_000
    assert redis.zscore(KEYS.due("sms", "normal"), "ws-1") == NOW + 60_000
    assert redis.zscore(KEYS.workspace_jobs("ws-1"), "job-1") == NOW
    assert redis.get(KEYS.scheduled_count("sms")) == b"1"
    expected = (
        KEYS.job("job-1"),
        SCHEDULE,
        KEYS.due("sms", "normal"),
        KEYS.workspace_jobs("ws-1"),
        KEYS.scheduled_count("sms"),
        KEYS.backlog(),
    )
    assert sorted(redis.keys("*")) == sorted(k.encode() for k in expected)
    assert redis.hget(KEYS.backlog(), "ws-1") == b"1"


async def test_create_tells_duplicates_from_conflicts(store: JobStore) -> None:
    await store.create([record("job-1", digest="same")])

    again, other = await store.create(
        [record("job-1", digest="same"), record("job-1", digest="different")]
    )

    assert again.outcome is CreateOutcome.DUPLICATE
    assert other.outcome is CreateOutcome.CONFLICT
    assert other.record.digest == "same"  # the stored job is reported, not the rejected one


async def test_bulk_create_is_one_script_call_per_chunk(
    store: JobStore, redis: redis_lib.Redis
) -> None:
    count = CREATE_CHUNK_SIZE * 2 + 203
    redis.config_resetstat()

    results = await store.create([record(f"job-{index}") for index in range(count)])

    assert [result.record.id for result in results] == [f"job-{index}" for index in range(count)]
    assert all(result.outcome is CreateOutcome.CREATED for result in results)
    stats = redis.info("commandstats")
    script_calls = sum(
        stats.get(name, {}).get("calls", 0) for name in ("cmdstat_evalsha", "cmdstat_eval")
    )
    assert script_calls == 3
    assert redis.zcard(SCHEDULE) == count


async def test_cancel_outcomes(store: JobStore, redis: redis_lib.Redis) -> None:
    await store.create([record("job-1"), record("job-2")])
    set_status(redis, "job-2", "COMPLETED")

    first = await store.cancel("job-1", NOW + 5)
    second = await store.cancel("job-1", NOW + 6)
    taken = await store.cancel("job-2", NOW + 7)
    missing = await store.cancel("job-3", NOW + 8)

    assert first[0] is CancelOutcome.CANCELLED
    assert first[1] is not None
    assert first[1].updated_at == NOW + 5
    assert second[0] is CancelOutcome.ALREADY_CANCELLED
    assert taken[0] is CancelOutcome.NOT_CANCELLABLE
    assert missing == (CancelOutcome.NOT_FOUND, None)
    assert redis.zrange(SCHEDULE, 0, -1) == [b"job-2"]
    assert redis.zscore(KEYS.due("sms", "normal"), "ws-1") is not None


async def test_a_workspace_with_nothing_waiting_leaves_the_due_index(
    store: JobStore, redis: redis_lib.Redis
) -> None:
    await store.create([record("job-1"), record("job-2", workspace="ws-2")])

    await store.cancel("job-1", NOW + 5)

    assert redis.exists(SCHEDULE) == 0
    assert redis.zrange(KEYS.due("sms", "normal"), 0, -1) == [b"ws-2"]


async def test_a_campaign_s_jobs_are_listed_in_creation_order(
    store: JobStore, redis: redis_lib.Redis
) -> None:
    await store.create(
        [of_campaign("job-1", "spring"), of_campaign("job-2", 7), of_campaign("job-3", "spring")]
    )

    assert redis.lrange(KEYS.campaign("ws-1", "spring"), 0, -1) == [b"job-1", b"job-3"]
    assert redis.keys(KEYS.campaign("ws-1", "*")) == [KEYS.campaign("ws-1", "spring").encode()]


def of_campaign(job_id: str, campaign: object, *, workspace: str = "ws-1") -> JobRecord:
    body = orjson.dumps({"payload": {}, "metadata": {"campaignId": campaign}}).decode()
    return dataclasses.replace(record(job_id, workspace=workspace), body=body)


async def test_a_campaign_is_cancelled_in_short_calls_and_only_it(
    store: JobStore, redis: redis_lib.Redis
) -> None:
    # Given a campaign bigger than one cancel call, some of it sent or cancelled already, and
    # another campaign of the same workspace
    count = 2 * CANCEL_CHUNK_SIZE + CANCEL_CHUNK_SIZE // 2
    await store.create([of_campaign(f"s-{i}", "spring") for i in range(count)])
    await store.create([of_campaign(f"a-{i}", "autumn") for i in range(5)])
    for i in range(3):
        set_status(redis, f"s-{i}", "COMPLETED")
        redis.zrem(SCHEDULE, f"s-{i}")
        redis.hincrby(KEYS.backlog(), "ws-1", -1)
    await store.cancel_many(["s-3", "s-4"], NOW + 1)
    # s-5 finished and was removed by retention
    redis.delete(KEYS.job("s-5"))
    redis.zrem(SCHEDULE, "s-5")
    redis.hincrby(KEYS.backlog(), "ws-1", -1)
    script_calls = redis.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)

    # When the campaign is cancelled
    counts = await store.cancel_campaign("ws-1", "spring", NOW + 2)

    # Then every job of it not sent is cancelled, in three calls of at most CANCEL_CHUNK_SIZE
    assert counts == CancelCounts(
        cancelled=count - 6, already_cancelled=2, not_cancellable=3, not_found=1
    )
    calls = redis.info("commandstats")["cmdstat_evalsha"]["calls"] - script_calls
    assert calls == 3
    waiting = {member.decode() for member in redis.zrange(SCHEDULE, 0, -1)}
    assert waiting == {f"a-{i}" for i in range(5)}
    assert redis.zcard(KEYS.state("sms", "CANCELLED")) == count - 4
    assert redis.hget(KEYS.backlog(), "ws-1") == b"5"  # the autumn campaign
    record_after = JobRecord.decode(f"s-{count - 1}", redis.get(KEYS.job(f"s-{count - 1}")))
    assert (record_after.status, record_after.updated_at) == ("CANCELLED", NOW + 2)


async def test_a_campaign_id_is_a_workspace_s_own(store: JobStore, redis: redis_lib.Redis) -> None:
    await store.create([of_campaign("a", "spring"), of_campaign("b", "spring", workspace="ws-2")])

    counts = await store.cancel_campaign("ws-2", "spring", NOW + 1)

    assert counts == CancelCounts(cancelled=1)
    assert redis.zrange(SCHEDULE, 0, -1) == [b"a"]


async def test_campaign_size_counts_a_workspace_s_jobs_of_the_campaign(store: JobStore) -> None:
    spring = [of_campaign("a", "spring"), of_campaign("b", "spring")]
    others = [of_campaign("c", "autumn"), of_campaign("d", "spring", workspace="ws-2")]
    await store.create([*spring, *others])

    assert await store.campaign_size("ws-1", "spring") == 2
    assert await store.campaign_size("ws-2", "spring") == 1
    assert await store.campaign_size("ws-1", "winter") == 0


async def test_a_job_is_on_its_way_once_it_has_its_send_slot(
    store: JobStore, redis: redis_lib.Redis
) -> None:
    redis.sadd(KEYS.sending("sms"), "slotted")

    assert await store.is_on_its_way("sms", "slotted")
    assert not await store.is_on_its_way("sms", "waiting")
    assert not await store.is_on_its_way("email", "slotted")


async def test_cancel_many_with_a_workspace_cancels_only_its_jobs(store: JobStore) -> None:
    await store.create([record("mine"), record("theirs", workspace="ws-2")])

    outcomes = await store.cancel_many(["mine", "theirs", "none"], NOW + 1, workspace_id="ws-1")

    assert outcomes == [CancelOutcome.CANCELLED, CancelOutcome.NOT_FOUND, CancelOutcome.NOT_FOUND]
    theirs = await store.get("theirs")
    assert theirs is not None
    assert theirs.status == "SCHEDULED"


async def test_listing_continues_after_the_cursor_job_is_gone(
    store: JobStore, redis: redis_lib.Redis
) -> None:
    await store.create([record(f"job-{index}", created=NOW + index) for index in range(6)])
    page, cursor = await store.list_workspace_jobs("ws-1", limit=2)
    assert [job.id for job in page] == ["job-5", "job-4"]
    assert cursor == Cursor(NOW + 4, "job-4")

    # When the cursor's job disappears (expired) before the next page is asked for
    redis.zrem(KEYS.workspace_jobs("ws-1"), "job-4")
    page, cursor = await store.list_workspace_jobs("ws-1", limit=2, cursor=cursor)

    # Then the listing goes on from its score
    assert [job.id for job in page] == ["job-3", "job-2"]


async def test_listing_skips_index_entries_whose_record_expired(
    store: JobStore, redis: redis_lib.Redis
) -> None:
    await store.create([record(f"job-{index}", created=NOW + index) for index in range(3)])
    redis.delete(KEYS.job("job-1"))

    page, cursor = await store.list_workspace_jobs("ws-1", limit=10)

    assert [job.id for job in page] == ["job-2", "job-0"]
    assert cursor is None


def test_cursor_round_trips_and_rejects_garbage() -> None:
    assert Cursor.decode(Cursor(NOW, "abc").encode()) == Cursor(NOW, "abc")
    for text in ("", "abc", ":abc", "12:", "-1:abc", "x:abc"):
        with pytest.raises(ValueError, match="cursor"):
            Cursor.decode(text)


def test_new_ids_are_fixed_length_and_sort_by_time() -> None:
    ids = [new_job_id(NOW + step) for step in range(0, 5000, 7)]

    assert all(len(job_id) == JOB_ID_LENGTH for job_id in ids)
    assert ids == sorted(ids)
    assert len({new_job_id(NOW) for _ in range(1000)}) == 1000


def test_key_derived_ids_are_stable_and_scoped_to_the_workspace() -> None:
    first = job_id_for_key("ws-1", "key-1")

    assert first == job_id_for_key("ws-1", "key-1")
    assert len(first) == JOB_ID_LENGTH
    assert first != job_id_for_key("ws-2", "key-1")
    assert first != job_id_for_key("ws-1", "key-2")
    # The separator keeps ("ws-1", "2key") and ("ws-12", "key") apart.
    assert job_id_for_key("ws-1", "2key") != job_id_for_key("ws-12", "key")


async def test_create_survives_redis_forgetting_its_scripts(
    store: JobStore, redis: redis_lib.Redis
) -> None:
    # A restarted Redis (or SCRIPT FLUSH) has no scripts: the store loads them again by itself.
    redis.script_flush()
    [first] = await store.create([record("job-1")])
    redis.script_flush()
    [second] = await store.create([record("job-2")])

    assert (first.outcome, second.outcome) == (CreateOutcome.CREATED, CreateOutcome.CREATED)
    assert redis.exists(KEYS.job("job-2"))


async def test_a_job_due_soon_wakes_the_dispatchers_and_one_due_later_does_not(
    store: JobStore, redis: redis_lib.Redis
) -> None:
    # Given a job due in a minute, then jobs due at once, in one call and then in chunks
    later = record(new_job_id(NOW))
    await store.create([later])
    assert redis.lrange(KEYS.wake("sms"), 0, -1) == []

    now = [
        dataclasses.replace(record(new_job_id(NOW)), scheduled_for=NOW)
        for _ in range(CREATE_CHUNK_SIZE + 1)
    ]
    await store.create(now[:1])
    assert redis.lrange(KEYS.wake("sms"), 0, -1) == [b"1"]

    # Then the dispatchers' token is there, once however many jobs woke them
    redis.delete(KEYS.wake("sms"))
    await store.create(now[1:])
    assert redis.lrange(KEYS.wake("sms"), 0, -1) == [b"1"]
    assert redis.lrange(KEYS.wake("email"), 0, -1) == []
