"""TierStore on a real Redis: limits set, removed and seeded, and what a workspace uses now (its
tier, its sends in the last second from the pacer's logs, holds on its account, its backlog)."""

from __future__ import annotations

import asyncio

import orjson
import redis as redis_lib
import redis.asyncio as aioredis

from queue_services_server.store.jobs import JobStore
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.pacing import PacingStore, send_token
from queue_services_server.store.records import JobRecord
from queue_services_server.store.tiers import TierStore, TierUsage

KEYS = KeySpace()

SHARED = {"sms": "shared", "email": "shared"}
LIMITED = {"sms": 50, "email": 100}


def record(
    job_id: str, workspace: str, *, channel: str = "sms", priority: str = "normal"
) -> JobRecord:
    body = orjson.dumps({"payload": {"phoneNumber": "+14155550123", "message": "Hi"}})
    return JobRecord(
        id=job_id,
        channel=channel,
        workspace_id=workspace,
        priority=priority,
        status="SCHEDULED",
        created_at=1_764_000_000_000,
        updated_at=1_764_000_000_000,
        scheduled_for=1_764_000_000_000,  # long due: straight into its lane
        digest="d",
        body=body.decode(),
    )


def redis_now_ms(redis: redis_lib.Redis) -> int:
    seconds, micros = redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


def sent(redis: redis_lib.Redis, log: str, batch: str, ages_ms: dict[str, int]) -> None:
    """Put sends in a pacer log as pace.lua does: token -> slot, `ages_ms` before now (a negative
    age is a slot given ahead)."""
    now = redis_now_ms(redis)
    redis.zadd(log, {send_token(job, batch): now - age for job, age in ages_ms.items()})


async def usage(
    store: TierStore,
    workspace: str,
    *,
    accounts: dict[str, str] = SHARED,
    limits: dict[str, int] = LIMITED,
) -> dict[str, TierUsage]:
    return await store.usage(workspace, accounts=accounts, channel_limits=limits)


async def test_set_removes_with_none_and_leaves_channels_not_named(aredis: aioredis.Redis) -> None:
    store = TierStore(aredis, KEYS)
    await store.set("ws-1", {"sms": 10, "email": 20})

    await store.set("ws-1", {"email": None})

    assert await store.get("ws-1") == {"sms": 10, "email": None}


async def test_seed_writes_only_where_no_limit_was_set_since(aredis: aioredis.Redis) -> None:
    # Given a limit set through the API, then a worker starting with WORKSPACE_RATE_LIMITS
    store = TierStore(aredis, KEYS)
    await store.set("ws-1", {"sms": 3})

    await store.seed({"ws-1": {"sms": 10, "email": 20}, "ws-2": {"sms": 5}})

    # Then the API's value wins; the setting fills in only what is absent
    assert await store.get("ws-1") == {"sms": 3, "email": 20}
    assert await store.get("ws-2") == {"sms": 5, "email": None}


async def test_a_tiered_workspace_counts_its_own_log_over_the_last_second(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    # Given a tier of 5/s, sends 100 ms and 900 ms ago, one 1.5 s ago and one given ahead
    store = TierStore(aredis, KEYS)
    await store.set("ws-1", {"sms": 5})
    sent(redis, KEYS.pace("sms", "ws-1"), "b1", {"j1": 100, "j2": 900, "j3": 1500, "j4": -300})

    figures = (await usage(store, "ws-1"))["sms"]

    # Then only the two of the last second count
    assert (figures.limit, figures.used, figures.held_until_ms) == (5, 2, None)
    assert abs(figures.now_ms - redis_now_ms(redis)) < 1000


async def test_without_a_tier_the_channel_log_is_counted_by_whose_batch_it_is(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    # Given the channel's log holding two batches of ws-1 and one of ws-2 (the records say whose)
    store = TierStore(aredis, KEYS)
    for job, workspace in (("a1", "ws-1"), ("a2", "ws-1"), ("b1", "ws-1"), ("c1", "ws-2")):
        redis.set(KEYS.job(job), record(job, workspace).encode())
    sent(redis, KEYS.pace("sms"), "batch-a", {"a1": 50, "a2": 70})
    sent(redis, KEYS.pace("sms"), "batch-b", {"b1": 400})
    sent(redis, KEYS.pace("sms"), "batch-c", {"c1": 60, "c2": 80})  # c2's record was deleted

    one, two = (await usage(store, "ws-1"))["sms"], (await usage(store, "ws-2"))["sms"]

    assert (one.limit, one.used) == (None, 3)
    assert (two.limit, two.used) == (None, 2)


async def test_without_a_tier_or_a_channel_limit_nothing_counts_the_sends(
    aredis: aioredis.Redis,
) -> None:
    store = TierStore(aredis, KEYS)

    figures = await usage(store, "ws-1", limits={"sms": 0, "email": 100})

    assert figures["sms"].used is None
    assert figures["email"].used == 0


async def test_the_pacers_own_slots_are_what_is_counted(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    # Given slots the pacer really gave: four to a workspace on a tier, three to one without
    pacing, store = PacingStore(aredis, KEYS, "sms"), TierStore(aredis, KEYS)
    await store.set("tiered", {"sms": 20})
    jobs = {"t1": "tiered", "t2": "tiered", "t3": "tiered", "t4": "tiered"}
    jobs |= {"f1": "free", "f2": "free", "f3": "free"}
    for job, workspace in jobs.items():
        redis.set(KEYS.job(job), record(job, workspace).encode())
        redis.hset(KEYS.owners("sms"), job, f"batch-{workspace}")
    for workspace in ("tiered", "free"):
        waiting = [job for job, owner in jobs.items() if owner == workspace]
        while waiting:  # as a sender asks: again, after the wait, for the jobs left
            given = await pacing.reserve(
                f"batch-{workspace}",
                workspace,
                "shared",
                [(job, 0) for job in waiting],
                channel_limit=100,
                window_ms=1020,
                horizon_ms=1000,
            )
            waiting = [job for job, slot in zip(waiting, given.slots, strict=True) if slot < 0]
            await asyncio.sleep(given.wait_ms / 1000)
    # When their slots have come (the last within 400 ms, the pacer's horizon here)
    await asyncio.sleep(0.45)

    tiered, free = (await usage(store, "tiered"))["sms"], (await usage(store, "free"))["sms"]

    # Then each counts its own sends
    assert (tiered.limit, tiered.used) == (20, 4)
    assert (free.limit, free.used) == (None, 3)


async def test_a_hold_shows_on_the_workspaces_own_account_only_while_it_lasts(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    # Given the shared account held for 5 s, and ws-own's own account held until a moment past
    store, pacing = TierStore(aredis, KEYS), PacingStore(aredis, KEYS, "sms")
    end = await pacing.hold("ws-1", "shared", 5000)
    redis.set(KEYS.rate_hold("sms", "ws-own"), redis_now_ms(redis) - 10)

    shared = await usage(store, "ws-1")
    own = await usage(store, "ws-own", accounts={"sms": "ws-own", "email": "shared"})

    assert shared["sms"].held_until_ms == end
    assert shared["email"].held_until_ms is None
    assert own["sms"].held_until_ms is None  # its own account's hold is over; shared's is not its


async def test_the_backlog_is_the_workspaces_due_jobs_in_its_lanes(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    # Given due SMS of ws-1 at three priorities, one of its emails, and another workspace's SMS
    await JobStore(aredis, KEYS).create(
        [
            record("h1", "ws-1", priority="high"),
            record("n1", "ws-1"),
            record("n2", "ws-1"),
            record("l1", "ws-1", priority="low"),
            record("e1", "ws-1", channel="email"),
            record("x1", "ws-2"),
        ]
    )

    figures = await usage(TierStore(aredis, KEYS), "ws-1")

    assert (figures["sms"].backlog, figures["email"].backlog) == (4, 1)


async def test_reading_usage_writes_nothing_and_survives_a_script_flush(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    # Given a tier, sends, a hold and a backlog
    store = TierStore(aredis, KEYS)
    await store.set("ws-1", {"sms": 5})
    sent(redis, KEYS.pace("sms", "ws-1"), "b1", {"j1": 100})
    redis.set(KEYS.job("n1"), record("n1", "ws-1").encode())
    before = {key: redis.dump(key) for key in redis.keys("*")}

    # When Redis has lost its scripts (a restart) and usage is read twice
    redis.script_flush()
    first = await usage(store, "ws-1")
    second = await usage(store, "ws-1")

    # Then both readings agree and Redis holds exactly what it held
    assert first["sms"].used == second["sms"].used == 1
    assert {key: redis.dump(key) for key in redis.keys("*")} == before


async def test_a_limit_the_pacer_ignores_is_no_limit(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    # WORKSPACE_RATE_LIMITS may seed a 0, which pace.lua and claim.lua treat as no tier
    redis.hset(KEYS.tiers("sms"), "ws-1", 0)

    figures = (await usage(TierStore(aredis, KEYS), "ws-1"))["sms"]

    assert (figures.limit, figures.used) == (None, 0)
