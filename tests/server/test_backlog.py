"""The per-workspace backlog bound (`MAX_WORKSPACE_BACKLOG`): counted through a job's whole life,
enforced atomically at intake, answered 507 over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis as redis_lib
import redis.asyncio as aioredis

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from queue_services_server.store.delivery import DeliveryStore, JobOutcome, Outcome
from queue_services_server.store.jobs import CreateOutcome, JobStore
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.operations import OperatorStore
from tests.harness import ADMIN_HEADERS, ADMIN_KEY, running_server
from tests.server.test_store import NOW, record

KEYS = KeySpace("qs")


def backlog(redis: redis_lib.Redis, workspace: str) -> int:
    return int(redis.hget(KEYS.backlog(), workspace) or 0)


async def test_the_backlog_follows_each_job_until_it_is_finished(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    jobs, delivery, operator = (
        JobStore(aredis, KEYS),
        DeliveryStore(aredis, KEYS),
        OperatorStore(aredis, KEYS),
    )
    # Given four jobs of ws-1 due now and one of ws-2
    created = await jobs.create(
        [record(f"job-{i}", created=NOW - 60_000) for i in range(4)]
        + [record("other", workspace="ws-2", created=NOW - 60_000)]
    )
    assert {c.outcome for c in created} == {CreateOutcome.CREATED}
    assert (backlog(redis, "ws-1"), backlog(redis, "ws-2")) == (4, 1)

    # When one is cancelled, and the others are taken and finish sent / retried / failed
    await jobs.cancel("job-3", NOW)
    assert backlog(redis, "ws-1") == 3
    claim = await delivery.claim(
        "sms", batch_id="b1", lookahead_ms=0, batch_size=3, max_in_flight=10, lease_ms=60_000,
        tier_window_ms=1000, max_lease_expiries=5,
    )  # fmt: skip
    assert sorted(job.id for job in claim.jobs) == ["job-0", "job-1", "job-2"]
    assert backlog(redis, "ws-1") == 3  # being sent still counts
    await delivery.finish(
        "sms",
        "b1",
        [
            JobOutcome("job-0", Outcome.SENT, "m-0"),
            JobOutcome("job-1", Outcome.RETRY, "timeout", retry_in_ms=1000),
            JobOutcome("job-2", Outcome.FAILED, "400 bad number"),
        ],
        last=True,
        batch_size=3,
    )
    # Then only the retried job is still counted, until an operator retries the failed one
    assert backlog(redis, "ws-1") == 1
    await operator.retry("job-2", NOW)
    assert backlog(redis, "ws-1") == 2
    assert backlog(redis, "ws-2") == 1


async def test_a_full_backlog_refuses_new_jobs_but_not_retries_of_old_ones(
    aredis: aioredis.Redis, redis: redis_lib.Redis
) -> None:
    jobs = JobStore(aredis, KEYS)
    first = await jobs.create([record("job-0"), record("job-1")], max_backlog=2)
    assert [c.outcome for c in first] == [CreateOutcome.CREATED] * 2

    again = await jobs.create(
        [record("job-1"), record("job-2"), record("elsewhere", workspace="ws-2")], max_backlog=2
    )

    assert [c.outcome for c in again] == [
        CreateOutcome.DUPLICATE,  # a retried request still gets its job
        CreateOutcome.BACKLOG_FULL,
        CreateOutcome.CREATED,  # another workspace is not held back
    ]
    assert redis.get(KEYS.job("job-2")) is None
    assert backlog(redis, "ws-1") == 2


@pytest.fixture
def bounded_api(redis_server: EmbeddedRedis, redis: redis_lib.Redis) -> Iterator[httpx.Client]:
    settings = Settings(redis_url=redis_server.url, admin_key=ADMIN_KEY, max_workspace_backlog=3)
    with running_server(settings) as url, httpx.Client(base_url=url, headers=ADMIN_HEADERS) as http:
        yield http


def sms(workspace: str = "ws-1") -> dict[str, object]:
    return {"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": workspace}


def test_over_http_a_full_backlog_is_a_507_with_a_clear_message(bounded_api: httpx.Client) -> None:
    bulk = bounded_api.post("/api/schedule-sms/bulk", json={"messages": [sms()] * 2})
    assert bulk.json()["accepted"] == 2

    # A bulk request that only partly fits: the items that fit are stored, the others say why
    partly = bounded_api.post("/api/schedule-sms/bulk", json={"messages": [sms()] * 2})
    assert partly.status_code == 200
    assert partly.json()["accepted"] == 1
    assert partly.json()["results"][1]["error"]["code"] == "backlog_full"

    single = bounded_api.post("/api/schedule-sms", json=sms())
    none_fit = bounded_api.post("/api/schedule-sms/bulk", json={"messages": [sms()] * 2})
    other_workspace = bounded_api.post("/api/schedule-sms", json=sms("ws-2"))

    assert single.status_code == 507
    assert single.json()["error"]["code"] == "backlog_full"
    assert "MAX_WORKSPACE_BACKLOG" in single.json()["error"]["message"]
    assert none_fit.status_code == 507
    assert other_workspace.status_code == 201
    # And once a job is cancelled there is room again
    [job] = bounded_api.get("/api/jobs", params={"workspaceId": "ws-1", "limit": 1}).json()["jobs"]
    assert bounded_api.delete(f"/api/jobs/{job['jobId']}").status_code == 200
    assert bounded_api.post("/api/schedule-sms", json=sms()).status_code == 201
