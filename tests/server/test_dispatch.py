"""Claims, leases and outcomes on a real Redis: fairness, priorities, tiers, leases that hold,
outcomes recorded as they come, cancel, lookahead; and the sender around them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
import redis as redis_lib
import redis.asyncio as aioredis

from queue_services_server.delivery.config import ChannelConfig
from queue_services_server.delivery.dispatch import Dispatcher
from queue_services_server.delivery.pacer import ChannelPacer
from queue_services_server.delivery.providers.base import (
    OutboundMessage,
    Release,
    RetryableProviderError,
)
from queue_services_server.delivery.sender import BatchSender
from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from queue_services_server.store.delivery import (
    RATE_EVENTS_TTL_S,
    DeliveryStore,
    JobOutcome,
    Outcome,
)
from queue_services_server.store.jobs import JobStore
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.pacing import LOST, PacingStore
from queue_services_server.store.records import JobRecord
from queue_services_server.store.tiers import TierStore

KEYS = KeySpace("qs")


def now_ms() -> int:
    # The scripts read Redis's clock; the test's Redis runs on this machine, so this one agrees.
    return time.time_ns() // 1_000_000


#: A moment just past, when the tests' jobs are due.
NOW = now_ms() - 1000


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


async def claim(delivery: DeliveryStore, size: int = 10, **options: int):  # type: ignore[no-untyped-def]
    return await delivery.claim(
        "sms",
        batch_id=uuid.uuid4().hex[:8],
        lookahead_ms=options.get("lookahead_ms", 0),
        batch_size=size,
        max_in_flight=options.get("max_in_flight", 0),
        lease_ms=options.get("lease_ms", 30_000),
        tier_window_ms=options.get("tier_window_ms", 1000),
        max_lease_expiries=options.get("max_lease_expiries", 5),
        least=options.get("least", 1),
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


async def test_high_priority_goes_before_every_workspace_s_normal_work(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    jobs, delivery = stores
    await jobs.create([job("busy", i, due=NOW - 5000) for i in range(30)])
    await jobs.create([job("otp", i, priority="high") for i in range(2)])

    first = await claim(delivery, size=5)
    second = await claim(delivery, size=5)

    # "busy" has waited longer, but a one-time code does not wait a turn of every busy workspace
    assert [j.priority for j in first.jobs] == ["high", "high"]
    assert first.workspace_id == "otp"
    assert second.workspace_id == "busy"


async def test_high_priority_cannot_starve_normal_work(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    jobs, delivery = stores
    await jobs.create([job(f"hi-{w}", i, priority="high") for w in range(3) for i in range(50)])
    await jobs.create(
        [job("norm", i) for i in range(50)] + [job("low", i, priority="low") for i in range(50)]
    )

    turns = [await claim(delivery, size=5) for _ in range(20)]

    served = [c.jobs[0].priority for c in turns]
    # after PRIORITY_RUN (4) claims in a row passed a priority's due work over, it is served
    assert served[:5] == ["high", "high", "high", "high", "normal"]
    assert served.count("normal") >= 3
    assert served.count("low") >= 2
    for priority in ("normal", "low"):
        positions = [i for i, p in enumerate(served) if p == priority]
        assert max(b - a for a, b in itertools.pairwise([-1, *positions, 20])) <= 8


async def test_a_turn_cut_short_by_the_room_in_flight_is_completed_first(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    jobs, delivery = stores
    await jobs.create(
        [job("a", i, due=NOW - 10) for i in range(30)] + [job("b", i) for i in range(30)]
    )

    # room for 4 in flight: a's turn of 10 comes in pieces, and b waits for the whole of it
    pieces = []
    for _ in range(4):
        taken = await claim(delivery, size=10, max_in_flight=4)
        pieces.append((taken.workspace_id, len(taken.jobs)))
        await delivery.finish(
            "sms",
            taken.batch_id,
            [JobOutcome(j.id, Outcome.SENT, "m") for j in taken.jobs],
            last=True,
            batch_size=len(taken.jobs),
        )

    assert pieces == [("a", 4), ("a", 4), ("a", 2), ("b", 4)]


async def test_a_workspace_due_just_after_a_scheduled_campaign_waits_one_turn(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    jobs, delivery = stores

    # a campaign of 5,000 all due at one time T, and another workspace's message due at T + 1 s:
    # the second is in the round as soon as it is due, not behind the campaign's jobs
    def scheduled(workspace: str, index: int, due: int) -> JobRecord:
        # created a minute before it is due: it waited on the schedule, not created due
        return dataclasses.replace(job(workspace, index, due=due), created_at=due - 60_000)

    await jobs.create([scheduled("campaign", i, NOW - 3000) for i in range(5000)])
    await jobs.create([scheduled("other", 0, NOW - 2000)])

    turns = [await claim(delivery, size=50) for _ in range(3)]

    assert [c.workspace_id for c in turns] == ["campaign", "other", "campaign"]


async def test_jobs_not_yet_due_stay_on_the_schedule(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    jobs, delivery = stores
    soon = now_ms() + 2000
    await jobs.create([job("ws", 0, due=soon + 60_000), job("ws", 1, due=soon)])

    early = await claim(delivery)
    within_lookahead = await claim(delivery, lookahead_ms=5000)

    assert early.jobs == []
    assert early.next_due_ms == soon
    assert [j.id for j in within_lookahead.jobs] == ["ws-normal-1"]
    assert within_lookahead.next_due_ms == soon + 60_000


async def test_a_cancelled_job_is_not_taken(stores: tuple[JobStore, DeliveryStore]) -> None:
    jobs, delivery = stores
    await jobs.create([job("ws", 0), job("ws", 1)])
    await jobs.cancel("ws-normal-1", now_ms())

    taken = await claim(delivery)

    assert [j.id for j in taken.jobs] == ["ws-normal-0"]
    record = await jobs.get("ws-normal-0")
    assert record is not None
    assert (record.status, record.batch_id) == ("PROCESSING", taken.batch_id)


async def test_a_taken_job_is_cancellable_until_it_has_its_send_slot(
    stores: tuple[JobStore, DeliveryStore], redis: redis_lib.Redis, aredis: aioredis.Redis
) -> None:
    # Given a batch of three taken for sending, one of which has its send slot
    jobs, delivery = stores
    pacing = PacingStore(aredis, KEYS, "sms")
    await jobs.create([job("ws", i) for i in range(3)])
    taken = await claim(delivery)
    ids = [j.id for j in taken.jobs]

    async def reserve(job_ids: list[str]) -> list[int]:
        given = await pacing.reserve(
            taken.batch_id,
            "ws",
            "shared",
            [(job_id, NOW) for job_id in job_ids],
            channel_limit=0,
            window_ms=1000,
            horizon_ms=400,
        )
        return given.slots

    assert all(slot > 0 for slot in await reserve(ids[:1]))

    # When they are cancelled
    outcomes = await jobs.cancel_many(ids, now_ms())

    # Then the one with its slot goes on; the others leave the batch: no slot, no outcome
    assert [o.name for o in outcomes] == ["NOT_CANCELLABLE", "CANCELLED", "CANCELLED"]
    assert await reserve(ids[1:]) == [LOST, LOST]
    sent = [JobOutcome(job_id, Outcome.SENT, "p") for job_id in ids]
    assert await finish(delivery, taken.batch_id, sent) == 1
    statuses = [(await jobs.get(job_id)).status for job_id in ids]  # type: ignore[union-attr]
    assert statuses == ["COMPLETED", "CANCELLED", "CANCELLED"]
    assert redis.zcard(KEYS.inflight("sms")) == 0
    assert redis.hlen(KEYS.owners("sms")) == 0
    assert redis.hlen(KEYS.workspace_inflight("sms")) == 0
    assert redis.scard(KEYS.sending("sms")) == 0
    assert redis.zcard(KEYS.state("sms", "PROCESSING")) == 0
    assert redis.hget(KEYS.backlog(), "ws") is None


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
    lost = await claim(delivery, lease_ms=100)

    # When its lease has expired, the job is taken again in a new batch
    await asyncio.sleep(0.15)
    again = await claim(delivery)

    # Then the old batch's late report changes nothing, and the new one completes the job
    assert [j.id for j in again.jobs] == ["ws-normal-0"]
    stale = JobOutcome("ws-normal-0", Outcome.SENT, "late-id")
    assert await finish(delivery, lost.batch_id, [stale]) == 0
    fresh = JobOutcome("ws-normal-0", Outcome.SENT, "provider-1")
    assert await finish(delivery, again.batch_id, [fresh]) == 1
    record = await jobs.get("ws-normal-0")
    assert record is not None
    assert (record.status, record.provider_message_id, record.attempts) == (
        "COMPLETED",
        "provider-1",
        1,
    )
    assert redis.zcard(KEYS.inflight("sms")) == 0
    assert redis.hlen(KEYS.owners("sms")) == 0
    assert redis.hlen(KEYS.workspace_inflight("sms")) == 0


async def finish(
    delivery: DeliveryStore, batch_id: str, outcomes: list[JobOutcome], *, last: bool = True
) -> int:
    return await delivery.finish("sms", batch_id, outcomes, last=last, batch_size=len(outcomes))


async def test_a_job_whose_lease_expires_again_and_again_ends_failed_with_the_reason(
    stores: tuple[JobStore, DeliveryStore], redis: redis_lib.Redis
) -> None:
    # Given a job whose worker dies every time it takes it (a message that kills its worker)
    jobs, delivery = stores
    await jobs.create([job("ws", 0)])

    # When its lease expires three times, with at most three allowed
    for _ in range(3):
        taken = await claim(delivery, lease_ms=50, max_lease_expiries=3)
        assert [j.id for j in taken.jobs] == ["ws-normal-0"]
        await asyncio.sleep(0.08)
    await claim(delivery, lease_ms=50, max_lease_expiries=3)

    # Then it is not taken again: it is FAILED, says why, and counts as failed
    record = await jobs.get("ws-normal-0")
    assert record is not None
    assert record.status == "FAILED"
    assert record.last_error is not None
    assert "lease expired 3 times" in record.last_error
    assert redis.hget(KEYS.metrics("sms"), "failed") == b"1"
    assert redis.hget(KEYS.backlog(), "ws") is None


async def test_a_batch_delivered_twice_runs_once_and_renewals_report_lost_jobs(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    jobs, delivery = stores
    await jobs.create([job("ws", i) for i in range(3)])
    taken = await claim(delivery, lease_ms=100)
    ids = [j.id for j in taken.jobs]

    # A runner takes the batch: it gets its jobs' records; a second runner of the same batch
    # (the broker delivered its message twice) gets nothing to do
    first = await delivery.begin("sms", taken.batch_id, "runner-1", ids, 100)
    second = await delivery.begin("sms", taken.batch_id, "runner-2", ids, 100)
    assert first.held
    assert sorted(r.id for r in first.records) == sorted(ids)
    assert not second.held

    # When the lease runs out and another batch takes the jobs, a renewal says they are lost
    await asyncio.sleep(0.15)
    again = await claim(delivery)
    renewed = await delivery.renew("sms", taken.batch_id, "runner-1", ids, 100)
    assert sorted(j.id for j in again.jobs) == sorted(ids)
    assert not renewed.held or renewed.lost == set(ids)


async def test_finish_retries_and_fails_and_records_rate_limits(
    stores: tuple[JobStore, DeliveryStore], redis: redis_lib.Redis
) -> None:
    jobs, delivery = stores
    await jobs.create([job("ws", 0), job("ws", 1)])
    taken = await claim(delivery)

    before = now_ms()
    await delivery.finish(
        "sms",
        taken.batch_id,
        [
            JobOutcome("ws-normal-0", Outcome.RETRY, "429 slow down", 2000, rate_limited=True),
            JobOutcome("ws-normal-1", Outcome.FAILED, "400 invalid number"),
        ],
        last=True,
        batch_size=2,
    )
    after = now_ms()

    retried, failed = await jobs.get_many(["ws-normal-0", "ws-normal-1"])
    assert retried is not None
    assert failed is not None
    assert (retried.status, retried.last_error) == ("SCHEDULED", "429 slow down")
    # due 2 s after the outcome was written, on Redis's clock
    assert before + 2000 <= retried.scheduled_for <= after + 2000
    schedule = KEYS.workspace_schedule("sms", "ws", "normal")
    assert redis.zscore(schedule, "ws-normal-0") == retried.scheduled_for
    assert (failed.status, failed.last_error) == ("FAILED", "400 invalid number")
    [event] = await delivery.rate_events("ws", "sms")
    assert (event["batchSize"], event["errorMessage"]) == (2, "429 slow down")
    assert before <= int(event["timestamp"]) <= after  # type: ignore[call-overload]
    # a workspace gone quiet leaves no list behind
    assert 0 < redis.ttl(KEYS.rate_events("ws", "sms")) <= RATE_EVENTS_TTL_S


async def test_outcomes_written_as_they_come_give_room_back_per_message(
    stores: tuple[JobStore, DeliveryStore], redis: redis_lib.Redis
) -> None:
    # Given a batch of four in flight
    jobs, delivery = stores
    await jobs.create([job("ws", i) for i in range(4)])
    taken = await claim(delivery)
    ids = [j.id for j in taken.jobs]

    # When two outcomes are written, then the other two with the batch's last write
    sent = [JobOutcome(job_id, Outcome.SENT, f"m-{job_id}") for job_id in ids]
    assert await finish(delivery, taken.batch_id, sent[:2], last=False) == 2
    in_flight_between = redis.zcard(KEYS.inflight("sms"))
    batches_between = redis.hget(KEYS.metrics("sms"), "batches")
    assert await finish(delivery, taken.batch_id, sent[2:]) == 2

    # Then the room came back two at a time, and the batch counted once, with its last write
    assert in_flight_between == 2
    assert batches_between is None
    assert redis.zcard(KEYS.inflight("sms")) == 0
    assert redis.hget(KEYS.metrics("sms"), "batches") == b"1"
    assert redis.hget(KEYS.metrics("sms"), "success") == b"4"


async def test_a_workspace_on_a_tight_tier_claims_only_what_its_tier_sends(
    stores: tuple[JobStore, DeliveryStore], aredis: aioredis.Redis
) -> None:
    # Given a workspace limited to 2 sends a second, with 20 due, and another with 20
    jobs, delivery = stores
    await TierStore(aredis, KEYS).set("slow", {"sms": 2})
    await jobs.create([job("slow", i) for i in range(20)] + [job("fast", i) for i in range(20)])

    # When claims are made with a second of sends allowed in flight per tier
    turns = [await claim(delivery, size=10, tier_window_ms=1000) for _ in range(4)]

    # Then the slow workspace holds 2 in flight, and is passed over while they are; the other
    # takes full batches in the meantime
    taken = [(c.workspace_id, len(c.jobs)) for c in turns]
    assert taken == [("fast", 10), ("slow", 2), ("fast", 10), (None, 0)]


async def test_lua_builds_the_key_names_of_keys_py(
    stores: tuple[JobStore, DeliveryStore], redis: redis_lib.Redis
) -> None:
    jobs, delivery = stores
    await jobs.create([job("ws-1", i) for i in range(3)])

    await claim(delivery, size=1)

    names = {key.decode() for key in redis.keys("*")}
    assert KEYS.workspace_schedule("sms", "ws-1", "normal") in names
    assert KEYS.round("sms", "normal") in names
    assert KEYS.priority_run("sms") not in names  # one priority waiting: nothing passed over
    assert KEYS.inflight("sms") in names


async def test_the_dispatcher_hands_batches_over_and_sleeps_until_the_next_due_job(
    stores: tuple[JobStore, DeliveryStore],
) -> None:
    jobs, delivery = stores
    config = ChannelConfig.from_settings(Settings(), "sms")
    handed: list[tuple[str, str, list[str]]] = []
    dispatcher = Dispatcher(delivery, config, lambda *batch: handed.append(batch))
    now = now_ms()
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
    ("latency_s", "room"),
    [
        (0.0, 25),  # an instant provider: half a second of 50/s waiting for slots
        (0.3, 15 + 25),  # 15 SMS at the provider at any time, and the same half second
        (2.5, 125 + 25),
        (30.0, 250 + 25),  # a provider slower than 5 s is failing: sized as for 5 s
    ],
)
def test_with_a_rate_limit_the_room_follows_the_providers_latency(
    latency_s: float, room: int
) -> None:
    config = ChannelConfig.from_settings(Settings(sms_rate_limit=50), "sms")

    assert config.room_for(latency_s) == room


def test_an_explicit_room_or_no_rate_limit_keeps_it_fixed() -> None:
    fixed = ChannelConfig.from_settings(
        Settings(sms_rate_limit=50, dispatch_max_in_flight=30), "sms"
    )
    unlimited = ChannelConfig.from_settings(Settings(sms_rate_limit=0), "sms")

    assert fixed.room_for(1.0) == 30
    assert unlimited.room_for(1.0) == 50 * 20


def test_a_claim_waits_for_a_batch_s_worth_of_room() -> None:
    limited = ChannelConfig.from_settings(Settings(sms_rate_limit=50), "sms")
    unlimited = ChannelConfig.from_settings(Settings(sms_rate_limit=0), "sms")

    # room coming back a few messages at a time must not make batches of a few messages
    assert unlimited.least_claim(1000) == unlimited.batch_size == 50
    assert limited.least_claim(1000) == 10  # 0.2 s of 50/s
    assert unlimited.least_claim(3) == limited.least_claim(3) == 3  # a smaller room, whole


class SlowProvider:
    """Takes "ok" messages 50 ms after their release; fails the others after 500 ms."""

    name = "slow"

    async def send(self, message: OutboundMessage, *, release: Release | None = None) -> str:
        if release is not None:
            await release()
        if message.job_id.endswith("-ok"):
            await asyncio.sleep(0.05)
            return "m-" + message.job_id
        await asyncio.sleep(0.5)
        raise RetryableProviderError("timed out")

    async def aclose(self) -> None:
        pass


def sender_for(aredis: aioredis.Redis, provider: object, **settings: object) -> BatchSender:
    config = ChannelConfig.from_settings(Settings(**settings), "sms")  # type: ignore[arg-type]
    pacer = ChannelPacer(PacingStore(aredis, KEYS, "sms"), config)
    return BatchSender(config, DeliveryStore(aredis, KEYS), pacer, provider)  # type: ignore[arg-type]


async def test_the_sender_learns_the_providers_latency_from_the_messages_it_took(
    stores: tuple[JobStore, DeliveryStore], aredis: aioredis.Redis
) -> None:
    # Given a batch of six messages, three of which the provider takes in 50 ms and three it
    # fails after 500 ms
    jobs, delivery = stores
    records = [dataclasses.replace(job("ws", n), id=f"ws-{n}-ok") for n in range(3)]
    records += [dataclasses.replace(job("ws", n), id=f"ws-{n}-bad") for n in range(3)]
    await jobs.create(records)
    batch = await claim(delivery, size=10)
    sender = sender_for(aredis, SlowProvider(), sms_rate_limit=50)

    # When it sends them
    outcomes = await sender.send_batch(batch.batch_id, [record.id for record in batch.jobs])

    # Then its latency is that of the messages taken: failures (a timing-out provider) do not
    # make it take more jobs
    assert sorted(outcome.outcome.value for outcome in outcomes) == ["retry"] * 3 + ["sent"] * 3
    assert 0.04 <= sender.latency_s < 0.3  # with the failures it would be ~0.27 or more


class TimedProvider:
    """Notes when each message is released to it; the first message's connection takes 200 ms
    (it reaches its release that late), the others none."""

    name = "timed"

    def __init__(self) -> None:
        self.released: dict[str, float] = {}

    async def send(self, message: OutboundMessage, *, release: Release | None = None) -> str:
        if message.job_id.endswith("-0"):
            await asyncio.sleep(0.2)
        assert release is not None
        await release()
        self.released[message.job_id] = time.monotonic()
        return "m"

    async def aclose(self) -> None:
        pass


async def test_sends_go_at_their_slots_and_one_late_to_its_release_takes_a_new_one(
    stores: tuple[JobStore, DeliveryStore], aredis: aioredis.Redis
) -> None:
    # Given 20 SMS at 20 per second, the first slow to connect (200 ms, past its slot)
    jobs, delivery = stores
    await jobs.create([job("ws", n) for n in range(20)])
    batch = await claim(delivery, size=20)
    provider = TimedProvider()
    sender = sender_for(aredis, provider, sms_rate_limit=20, rate_limit_margin_ms=0)

    # When the batch is sent
    outcomes = await sender.send_batch(batch.batch_id, [record.id for record in batch.jobs])

    # Then all went out, 50 ms apart (20/s spread evenly), and the late one was not sent on
    # top of the others: it took a slot of its own after theirs had begun
    assert [o.outcome for o in outcomes] == [Outcome.SENT] * 20
    times = sorted(provider.released.values())
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 0.05 - 0.012  # the slots' spacing, less the release's tolerance
    slow = next(job_id for job_id in provider.released if job_id.endswith("-0"))
    assert provider.released[slow] > min(times)  # it went after the others had begun
    # (a send whose sleep a busy machine woke late takes a new slot too, so at least one)
    assert sender._pacer.late_sends >= 1
