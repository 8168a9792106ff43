"""A store made by the first release (key layout v1) keeps working after the upgrade: the jobs
it had waiting are delivered, once each, by a worker of this release; its API key, idempotency
keys and cancelled job are as they were; no key of layout v1 is left.

The store is `tests/fixtures/store_v1.json`, exported key by key from a Redis that release 1's
own API and claim script filled (`tests/fixtures/make_store_v1.py`, run at that release).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import redis as redis_lib

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.store.keys import KeySpace
from tests.harness import wait_until
from tests.receiver import running_receiver
from tests.workers import delivery_env, running_worker

KEYS = KeySpace()
FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "store_v1.json").read_text())


def restore(client: redis_lib.Redis, keys: dict[str, dict[str, Any]]) -> None:
    pipe = client.pipeline()
    for key, item in keys.items():
        kind, value = item["type"], item["value"]
        if kind == "string":
            pipe.set(key, value)
        elif kind == "zset":
            pipe.zadd(key, dict(value))
        elif kind == "list":
            pipe.rpush(key, *value)
        elif kind == "hash":
            pipe.hset(key, mapping=value)
    pipe.execute()


def test_a_release_1_store_is_delivered_after_the_upgrade(
    http: httpx.Client, redis: redis_lib.Redis, redis_server: EmbeddedRedis
) -> None:
    restore(redis, FIXTURE["keys"])
    ids = FIXTURE["ids"]
    # the worker that held the in-flight batch is gone: its leases have run out
    redis.zadd(KEYS.inflight("sms"), dict.fromkeys(ids["inFlight"], 1))
    waiting = [*ids["scheduledLater"], *ids["inLane"], ids["high"], *ids["inFlight"], ids["email"]]

    # the old API key still works, and an idempotency key used before still names its job
    old_key = {"Authorization": f"Bearer {ids['apiKey']}"}
    again = http.post(
        "/api/schedule-sms",
        headers={**old_key, "Idempotency-Key": "v1-key"},
        json={
            "phoneNumber": "+15550000002",
            "message": "v1 message 2 of ws-a",
            "workspaceId": "ws-a",
            "contactId": "contact-2",
            "metadata": {"campaignId": "spring", "kind": "reminder"},
            "delay": 60,
        },
    )
    assert again.status_code == 200, again.text
    assert again.json()["jobId"] == ids["idempotent"]

    with (
        running_receiver() as receiver,
        running_worker(delivery_env(redis_server.url, receiver.url, sms_rate_limit=100)),
    ):
        sent = receiver.wait_for(len(waiting), timeout_s=30)
        jobs = {job_id: wait_status(http, job_id, "COMPLETED") for job_id in waiting}

    assert all(job["status"] == "COMPLETED" for job in jobs.values())
    sent_ids = Counter(request.headers["idempotency-key"] for request in sent)
    assert set(sent_ids) == set(waiting)
    assert max(sent_ids.values()) == 1
    assert http.get(f"/api/jobs/{ids['cancelled']}").json()["status"] == "CANCELLED"
    names = {key.decode() for key in redis.keys("*")}
    legacy = [
        name
        for name in names
        if name.startswith((f"{KEYS.prefix}:lane:", f"{KEYS.prefix}:ready:"))
        or name in {KEYS.legacy_schedule("sms"), KEYS.legacy_schedule("email")}
        or name in {KEYS.legacy_scheduled_index("sms"), KEYS.legacy_scheduled_index("email")}
    ]
    assert legacy == []
    # the old index of SCHEDULED jobs was counted in: with every job sent, none is left
    # (without it, the jobs taken from it would have made the count negative)
    assert [int(redis.get(KEYS.scheduled_count(ch)) or 0) for ch in ("sms", "email")] == [0, 0]


def wait_status(http: httpx.Client, job_id: str, status: str) -> dict[str, Any]:
    job: dict[str, Any] = {}

    def reached() -> bool:
        nonlocal job
        job = http.get(f"/api/jobs/{job_id}").json()
        return bool(job["status"] == status)

    wait_until(reached, timeout_s=30, interval_s=0.1, message=lambda: f"{job_id}: {job}")
    return job
