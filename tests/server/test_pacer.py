"""The pacer's slots on a real Redis (pace.lua): spread, shared by several senders, never more
than the limit in any window, tiers, holds per provider account, lost jobs, the horizon; and a
process that takes no slots while it is behind the ones it has."""

from __future__ import annotations

import asyncio
import itertools
import time

import redis as redis_lib
import redis.asyncio as aioredis

from queue_services_server.delivery.config import ChannelConfig
from queue_services_server.delivery.pacer import ChannelPacer
from queue_services_server.delivery.providers.base import NEW_CONNECTION_SETTLE_S
from queue_services_server.settings import Settings
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.pacing import LOST, NO_SLOT, PacingStore
from queue_services_server.store.tiers import TierStore
from tests.receiver import max_per_window

KEYS = KeySpace("qs")


def own(redis: redis_lib.Redis, batch: str, job_ids: list[str]) -> None:
    """Make `batch` the holder of `job_ids` (as a claim does)."""
    redis.hset(KEYS.owners("sms"), mapping=dict.fromkeys(job_ids, batch))


async def all_slots(
    store: PacingStore,
    batch: str,
    job_ids: list[str],
    *,
    limit: int,
    window_ms: int = 1000,
    workspace: str = "ws",
    account: str = "shared",
    burst: int = 1,
) -> list[int]:
    """Ask for slots (as a sender does: again after each wait) until every job has one."""
    slots: dict[str, int] = {}
    while len(slots) < len(job_ids):
        waiting = [job_id for job_id in job_ids if job_id not in slots]
        given = await store.reserve(
            batch,
            workspace,
            account,
            [(job_id, 0) for job_id in waiting],
            channel_limit=limit,
            window_ms=window_ms,
            horizon_ms=400,
            burst=burst,
        )
        for job_id, slot in zip(waiting, given.slots, strict=True):
            assert slot != LOST
            if slot != NO_SLOT:
                slots[job_id] = slot
        if len(slots) < len(job_ids):
            await asyncio.sleep(given.wait_ms / 1000)
    return [slots[job_id] for job_id in job_ids]


async def test_slots_are_spread_evenly_with_the_margin(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    # Given 30 jobs at 100 per second, with a 20 ms margin in the window
    store = PacingStore(aredis, KEYS, "sms")
    own(redis, "b1", [f"j{n}" for n in range(30)])

    slots = await all_slots(store, "b1", [f"j{n}" for n in range(30)], limit=100, window_ms=1020)

    # Then they are 10.2 ms apart, one after the other
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert all(10 <= gap <= 11 for gap in gaps), gaps


async def test_senders_sharing_a_limit_never_put_more_than_it_in_any_window(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    # Given three senders (as on three workers) asking at once for 40 slots each, at 50 per
    # second
    store = PacingStore(aredis, KEYS, "sms")
    batches = {f"b{n}": [f"b{n}-j{i}" for i in range(40)] for n in range(3)}
    for batch, job_ids in batches.items():
        own(redis, batch, job_ids)

    given = await asyncio.gather(
        *(all_slots(store, batch, job_ids, limit=50) for batch, job_ids in batches.items())
    )

    # Then their 120 slots together hold no more than 50 in any second, and use the limit
    slots = sorted(slot for batch_slots in given for slot in batch_slots)
    assert max_per_window([slot / 1000 for slot in slots]) <= 50
    assert len(set(slots)) == 120
    assert (slots[-1] - slots[0]) / 1000 < 119 / 50 + 0.1


async def test_a_burst_lets_sends_go_back_to_back_but_never_past_the_limit(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    store = PacingStore(aredis, KEYS, "sms")
    own(redis, "b1", [f"j{n}" for n in range(25)])

    slots = await all_slots(store, "b1", [f"j{n}" for n in range(25)], limit=10, burst=5)

    # The first five at once (the burst), then spread; never more than 10 in a second
    assert len(set(slots[:5])) == 1
    assert max_per_window([slot / 1000 for slot in slots]) <= 10


async def test_a_workspace_tier_paces_its_own_sends_and_leaves_the_channel_to_others(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    # Given a workspace limited to 5 a second on a channel of 100 a second
    store = PacingStore(aredis, KEYS, "sms")
    await TierStore(aredis, KEYS).set("slow", {"sms": 5})
    own(redis, "b-slow", [f"s{n}" for n in range(8)])
    own(redis, "b-fast", [f"f{n}" for n in range(40)])

    slow, fast = await asyncio.gather(
        all_slots(store, "b-slow", [f"s{n}" for n in range(8)], limit=100, workspace="slow"),
        all_slots(store, "b-fast", [f"f{n}" for n in range(40)], limit=100, workspace="fast"),
    )

    # Then the tiered workspace gets 5 a second at most; the other is not slowed by it
    assert max_per_window([slot / 1000 for slot in slow]) <= 5
    assert (fast[-1] - fast[0]) / 1000 < 39 / 100 + 0.15


async def test_a_hold_stops_the_sends_of_the_account_that_answered_429_only(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    # Given the shared account held for 300 ms after a 429
    store = PacingStore(aredis, KEYS, "sms")
    own(redis, "b1", ["a", "b"])
    end = await store.hold("ws-1", "shared", 300)

    # When a workspace on the shared account and one with its own account ask for a slot
    shared = await store.reserve(
        "b1", "ws-1", "shared", [("a", 0)], channel_limit=0, window_ms=1000, horizon_ms=400
    )
    own_account = await store.reserve(
        "b1", "ws-2", "ws-2", [("b", 0)], channel_limit=0, window_ms=1000, horizon_ms=400
    )

    # Then only the held account waits, until the hold ends
    assert shared.slots == [NO_SLOT]
    assert 250 <= shared.wait_ms <= 300
    assert end - shared.now_ms == shared.wait_ms
    assert own_account.slots[0] >= own_account.now_ms


async def test_a_job_no_longer_the_batchs_gets_no_slot(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    store = PacingStore(aredis, KEYS, "sms")
    own(redis, "b1", ["mine"])
    own(redis, "b2", ["taken-again"])

    given = await store.reserve(
        "b1",
        "ws",
        "shared",
        [("mine", 0), ("taken-again", 0), ("never-claimed", 0)],
        channel_limit=10,
        window_ms=1000,
        horizon_ms=400,
    )

    assert given.slots[0] >= given.now_ms
    assert given.slots[1:] == [LOST, LOST]


async def test_slots_are_given_no_further_ahead_than_the_horizon(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    store = PacingStore(aredis, KEYS, "sms")
    own(redis, "b1", [f"j{n}" for n in range(20)])

    given = await store.reserve(
        "b1",
        "ws",
        "shared",
        [(f"j{n}", 0) for n in range(20)],
        channel_limit=10,
        window_ms=1000,
        horizon_ms=400,
    )

    # 10 a second, 400 ms ahead: the slots at 0, 100, ..., 400 ms, then "ask again" when half
    # the horizon has passed
    assert [slot - given.now_ms for slot in given.slots if slot != NO_SLOT] == [
        0,
        100,
        200,
        300,
        400,
    ]
    assert given.slots[5:] == [NO_SLOT] * 15
    assert 250 <= given.wait_ms <= 300


async def test_a_process_behind_its_slots_takes_no_more_and_groups_go_in_the_order_they_asked(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    # Given a pacer whose process holds a send whose slot has passed without it going
    config = ChannelConfig.from_settings(Settings(sms_rate_limit=100), "sms")
    pacer = ChannelPacer(PacingStore(aredis, KEYS, "sms"), config)
    own(redis, "b1", ["b1-j"])
    own(redis, "b2", ["b2-j"])
    pacer.expect("late send", time.monotonic() - 0.001)
    assert pacer.behind()

    # When two batches ask for slots, the first before the second
    order: list[str] = []

    async def ask(batch: str) -> None:
        await pacer.slots(batch, "ws", "shared", [(f"{batch}-j", 0)])
        order.append(batch)

    first = asyncio.create_task(ask("b1"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(ask("b2"))
    await asyncio.sleep(0.05)

    # Then neither gets a slot while the late send is waited for; once it went, both do, in order
    assert order == []
    pacer.forget("late send")
    await asyncio.wait_for(asyncio.gather(first, second), timeout=5)
    assert order == ["b1", "b2"]

    # And a late send's new slot does not wait for its turn: it is one of those waited for
    pacer.expect("another late send", time.monotonic() - 0.001)
    own(redis, "b3", ["b3-j"])
    given = await asyncio.wait_for(
        pacer.slots("b3", "ws", "shared", [("b3-j", 0)], in_turn=False), timeout=1
    )
    assert given.slots[0] >= 0


async def test_a_send_on_a_new_connection_goes_once_the_connection_has_settled() -> None:
    # Given a pacer (its store is not asked: a send on time needs no new slot)
    config = ChannelConfig.from_settings(Settings(sms_rate_limit=100), "sms")
    pacer = ChannelPacer(PacingStore(aioredis.Redis(), KEYS, "sms"), config)
    reslots: list[float] = []

    async def reslot() -> float:
        reslots.append(time.monotonic())
        return time.monotonic() + 0.02

    # Then every send starts early enough for a new connection to settle before its slot
    assert pacer.lead_s() >= NEW_CONNECTION_SETTLE_S

    # When a send's slot comes 10 ms after its new connection was made
    connected = time.monotonic()
    slot = connected + 0.01
    await pacer.release(slot, reslot)(connected)

    # Then it went no sooner than the connection settled, and, late for its slot, took another
    assert time.monotonic() >= connected + NEW_CONNECTION_SETTLE_S
    assert len(reslots) == 1
    assert reslots[0] >= connected + NEW_CONNECTION_SETTLE_S

    # And a send on a settled (or kept) connection goes at its slot, with no new one
    settled = time.monotonic() - NEW_CONNECTION_SETTLE_S
    slot = time.monotonic() + 0.02
    await pacer.release(slot, reslot)(settled)
    await pacer.release(time.monotonic() + 0.02, reslot)()
    assert len(reslots) == 1

    # And with no limit to keep, a new connection is used at once
    started = time.monotonic()
    await pacer.release(started, reslot, paced=False)(started)
    assert time.monotonic() - started < NEW_CONNECTION_SETTLE_S / 2
