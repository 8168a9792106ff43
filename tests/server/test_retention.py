"""Retention: finished jobs older than JOB_RETENTION_S are deleted with their index entries; the
rest stays; only one worker sweeps per interval."""

from __future__ import annotations

import asyncio

import pytest
import redis as redis_lib
import redis.asyncio as aioredis

from queue_services_server.delivery.retention import RetentionSweeper
from queue_services_server.store.delivery import DeliveryStore, JobOutcome, Outcome
from queue_services_server.store.jobs import JobStore
from queue_services_server.store.keys import KeySpace
from tests.server.test_store import NOW, record

KEYS = KeySpace("qs")
HOUR_MS = 3_600_000


async def test_finished_jobs_past_the_retention_go_with_their_index_entries(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    jobs, delivery = JobStore(aredis, KEYS), DeliveryStore(aredis, KEYS)
    # Given jobs finished two days ago (sent, failed, cancelled), one still scheduled, and one
    # sent an hour ago
    await jobs.create([record(f"old-{i}", created=NOW - 3 * 24 * HOUR_MS) for i in range(3)])
    await jobs.create([record("waiting", created=NOW - 3 * 24 * HOUR_MS)])
    claim = await delivery.claim(
        "sms", batch_id="b1", lookahead_ms=0, batch_size=2, max_in_flight=0, lease_ms=60_000,
        tier_window_ms=1000, max_lease_expiries=5,
    )  # fmt: skip
    assert {job.id for job in claim.jobs} == {"old-0", "old-1"}
    await delivery.finish(
        "sms", "b1",
        [JobOutcome("old-0", Outcome.SENT, "m"), JobOutcome("old-1", Outcome.FAILED, "400")],
        last=True, batch_size=2,
    )  # fmt: skip
    # finish.lua stamps Redis's clock: these two finished two days ago, as far as the status
    # indexes (what retention reads) say
    seconds, micros = redis.time()
    now = seconds * 1000 + micros // 1000
    redis.zadd(KEYS.state("sms", "COMPLETED"), {"old-0": now - 48 * HOUR_MS}, xx=True)
    redis.zadd(KEYS.state("sms", "FAILED"), {"old-1": now - 48 * HOUR_MS}, xx=True)
    await jobs.cancel("old-2", now - 48 * HOUR_MS)
    await jobs.create([record("recent", created=now - 2 * HOUR_MS)])
    claim = await delivery.claim(
        "sms", batch_id="b2", lookahead_ms=0, batch_size=10, max_in_flight=0, lease_ms=60_000,
        tier_window_ms=1000, max_lease_expiries=5,
    )  # fmt: skip
    await delivery.finish(
        "sms", "b2", [JobOutcome(job.id, Outcome.SENT, "m") for job in claim.jobs],
        last=True, batch_size=len(claim.jobs),
    )  # fmt: skip
    assert redis.exists(KEYS.job("recent"))

    # When a sweep runs with a retention of one day
    deleted = await RetentionSweeper(aredis, KEYS, retention_s=24 * 3600).sweep(now_ms=now)

    # Then the three finished two days ago are gone, records and index entries alike
    assert deleted == 3
    for job_id in ("old-0", "old-1", "old-2"):
        assert not redis.exists(KEYS.job(job_id))
        assert redis.zscore(KEYS.workspace_jobs("ws-1"), job_id) is None
        for status in ("COMPLETED", "FAILED", "CANCELLED"):
            assert redis.zscore(KEYS.state("sms", status), job_id) is None
    # and what is recent or unfinished stays, however old it is
    assert redis.exists(KEYS.job("recent"))
    assert redis.zscore(KEYS.state("sms", "COMPLETED"), "recent") is not None
    assert redis.exists(KEYS.job("waiting")) or redis.zscore(
        KEYS.state("sms", "COMPLETED"), "waiting"
    )


async def test_one_worker_sweeps_per_interval(
    aredis: aioredis.Redis, redis: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweeps: list[str] = []
    workers = [RetentionSweeper(aredis, KEYS, retention_s=1, interval_s=60) for _ in range(3)]
    for index, worker in enumerate(workers):

        async def counted(now_ms: int | None = None, name: str = f"worker-{index}") -> int:
            sweeps.append(name)
            return 0

        monkeypatch.setattr(worker, "sweep", counted)

    tasks = [asyncio.create_task(worker.run()) for worker in workers]
    await asyncio.sleep(0.3)
    for worker in workers:
        worker.stop()
    await asyncio.gather(*tasks)

    assert len(sweeps) == 1  # three workers, one interval: one sweep
