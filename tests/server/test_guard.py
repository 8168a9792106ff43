"""The store's guard over real HTTP and Redis: new jobs refused with 507 past
`MEMORY_GUARD_SHARE` of Redis's maxmemory, and jobs with a callback URL refused with 503 past
`MAX_CALLBACK_BACKLOG` undelivered callbacks; the callback stream is never trimmed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis as redis_lib

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from queue_services_server.store.keys import KeySpace
from tests.harness import ADMIN_HEADERS, ADMIN_KEY, running_server

KEYS = KeySpace("qs")
SMS = {"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "ws-1", "delay": 60_000}
WITH_CALLBACK = {**SMS, "callbackUrl": "http://127.0.0.1:9/callbacks"}


def api(redis_server: EmbeddedRedis, **settings: object) -> Iterator[httpx.Client]:
    configured = Settings(
        redis_url=redis_server.url,
        admin_key=ADMIN_KEY,
        callback_allowed_hosts="127.0.0.1",
        **settings,  # type: ignore[arg-type]
    )
    with running_server(configured) as url, httpx.Client(base_url=url, headers=ADMIN_HEADERS) as c:
        yield c


@pytest.fixture
def nearly_full(redis: redis_lib.Redis) -> Iterator[None]:
    """Redis with a maxmemory it uses 2/3 of; put back to none afterwards."""
    used = int(redis.info("memory")["used_memory"])
    redis.config_set("maxmemory", str(used * 3 // 2))
    try:
        yield
    finally:
        redis.config_set("maxmemory", "0")


def test_past_the_memory_share_new_jobs_are_refused_with_507(
    redis_server: EmbeddedRedis, redis: redis_lib.Redis, nearly_full: None
) -> None:
    for http in api(redis_server, memory_guard_share=0.5):
        single = http.post("/api/schedule-sms", json=SMS)
        bulk = http.post("/api/schedule-sms/bulk", json={"messages": [SMS, SMS]})

    for answer in (single, bulk):
        assert answer.status_code == 507, answer.text
        assert answer.json()["error"]["code"] == "store_full"
        assert "MEMORY_GUARD_SHARE" in answer.json()["error"]["message"]
    assert redis.zcard(KEYS.workspace_jobs("ws-1")) == 0  # nothing stored


def test_under_the_memory_share_or_with_no_guard_jobs_are_taken(
    redis_server: EmbeddedRedis, nearly_full: None
) -> None:
    for share in (0.9, 0):
        for http in api(redis_server, memory_guard_share=share):
            assert http.post("/api/schedule-sms", json=SMS).status_code == 201


def test_past_the_callback_backlog_jobs_with_a_callback_url_wait(
    redis_server: EmbeddedRedis, redis: redis_lib.Redis
) -> None:
    # Given three status changes not delivered (the CRM's endpoint is down)
    for n in range(3):
        redis.xadd(KEYS.callbacks(), {"jobId": f"j-{n}", "status": "COMPLETED"})

    for http in api(redis_server, max_callback_backlog=3):
        with_callback = http.post("/api/schedule-sms", json=WITH_CALLBACK)
        without = http.post("/api/schedule-sms", json=SMS)

    # Then a job that would add to them is refused, to retry later; one without is taken
    assert with_callback.status_code == 503, with_callback.text
    assert with_callback.json()["error"]["code"] == "callbacks_backlogged"
    assert with_callback.headers["Retry-After"] == "5"
    assert without.status_code == 201


def test_the_callback_stream_keeps_every_undelivered_change(
    redis_server: EmbeddedRedis, redis: redis_lib.Redis
) -> None:
    # More changes than the old cap of about 100,000 would have kept: none is dropped
    with redis.pipeline(transaction=False) as pipe:
        for n in range(100_500):
            pipe.xadd(KEYS.callbacks(), {"jobId": f"j-{n}", "status": "SCHEDULED"})
        pipe.execute()

    for http in api(redis_server):
        job_id = http.post("/api/schedule-sms", json=WITH_CALLBACK).json()["jobId"]
        http.delete(f"/api/jobs/{job_id}")

    assert redis.xlen(KEYS.callbacks()) == 100_500 + 1  # and the cancel's change
    first = redis.xrange(KEYS.callbacks(), count=1)[0][1]
    assert first[b"jobId"] == b"j-0"
