"""Delivery end to end: API server, real worker processes, real Redis, a real webhook receiver."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import httpx
import orjson
import pytest
import redis as redis_lib

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.store.keys import KeySpace
from tests.harness import ADMIN_HEADERS, WaitTimeout, wait_until
from tests.receiver import Received, Receiver, max_per_window, running_receiver
from tests.workers import (
    WEBHOOK_SECRET,
    delivery_env,
    running_worker,
    start_worker,
    stop_worker,
)

KEYS = KeySpace()

SECRET = WEBHOOK_SECRET


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def env_for(redis_server: EmbeddedRedis, receiver: Receiver, **settings: object) -> dict[str, str]:
    return delivery_env(redis_server.url, receiver.url, **settings)


def sms(workspace: str, index: int, **extra: Any) -> dict[str, Any]:
    return {
        "phoneNumber": f"+1415555{index:04d}",
        "message": f"message {index} for {workspace}",
        "workspaceId": workspace,
        "contactId": f"{workspace}-c{index}",
        **extra,
    }


def bulk(http: httpx.Client, messages: list[dict[str, Any]], channel: str = "sms") -> list[str]:
    answer = http.post(f"/api/schedule-{channel}/bulk", json={"messages": messages}).json()
    assert answer["accepted"] == len(messages), answer
    return [result["jobId"] for result in answer["results"]]


def wait_final(
    http: httpx.Client, job_ids: list[str], timeout_s: float
) -> dict[str, dict[str, Any]]:
    """The jobs once all are final; on a timeout, as they were last seen (the caller asserts
    on their statuses)."""
    jobs: dict[str, dict[str, Any]] = {}

    def all_final() -> bool:
        nonlocal jobs
        jobs = {job_id: http.get(f"/api/jobs/{job_id}").json() for job_id in job_ids}
        return all(job["status"] in ("COMPLETED", "FAILED", "CANCELLED") for job in jobs.values())

    with suppress(WaitTimeout):
        wait_until(all_final, timeout_s=timeout_s, interval_s=0.2)
    return jobs


def test_messages_reach_the_crm_exactly_as_the_seeds_give_them(
    http: httpx.Client, redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    # Given a worker delivering by webhook
    with running_worker(env_for(redis_server, receiver)):
        # When an SMS and an email are scheduled
        sms_id = http.post("/api/schedule-sms", json={
            "phoneNumber": "+1234567890", "message": "Your message content",
            "contactId": "contact-uuid", "workspaceId": "workspace-id", "delay": 0,
            "metadata": {"source": "campaign", "campaignId": "campaign-uuid"},
        }).json()["jobId"]  # fmt: skip
        email_id = http.post("/api/schedule-email", json={
            "to": "recipient@example.com", "subject": "Email subject",
            "html": "<p>Email content</p>", "contactId": "contact-uuid",
            "workspaceId": "workspace-id", "metadata": {"source": "campaign"},
        }).json()["jobId"]  # fmt: skip
        jobs = wait_final(http, [sms_id, email_id], 20)

    # Then both are COMPLETED with the receiver's message id
    assert jobs[sms_id]["status"] == "COMPLETED"
    assert jobs[sms_id]["providerMessageId"] == f"msg-{sms_id}"
    assert jobs[sms_id]["attempts"] == 1
    assert jobs[sms_id]["sentAt"] is not None
    # And the receiver got the seeds' bodies on the seeds' paths
    by_path = {r.path: r for r in receiver.sent()}
    assert by_path["/send-sms"].body == {
        "to": "+1234567890",
        "message": "Your message content",
        "contactId": "contact-uuid",
        "workspaceId": "workspace-id",
        "metadata": {"source": "campaign", "campaignId": "campaign-uuid"},
    }
    assert by_path["/api/email/send"].body == {
        "to": "recipient@example.com",
        "subject": "Email subject",
        "html": "<p>Email content</p>",
        "contactId": "contact-uuid",
        "workspaceId": "workspace-id",
        "metadata": {"source": "campaign"},
    }
    # And each request carries the job id as idempotency key and a valid signature
    request = by_path["/send-sms"]
    assert request.headers["idempotency-key"] == sms_id
    timestamp, mac = (
        part.split("=", 1)[1] for part in request.headers["x-queue-signature"].split(",")
    )
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + request.raw, hashlib.sha256)
    assert hmac.compare_digest(mac, expected.hexdigest())
    assert abs(int(timestamp) - request.at) < 5


def test_the_rate_limit_holds_in_every_one_second_window(
    http: httpx.Client, redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    # Given 150 due SMS from two workspaces and a limit of 50 per second, with two workers
    ids = bulk(http, [sms("ws-a", i) for i in range(100)] + [sms("ws-b", i) for i in range(50)])
    env = env_for(redis_server, receiver, sms_rate_limit=50)
    with running_worker(env, processes=2, threads=4):
        sent = receiver.wait_for(150, timeout_s=30)

    # Then all arrive, each once, never more than 50 in any one-second window. (How much of the
    # limit is used is a benchmark's figure, tests/benchmarks/slow_provider.py: on this shared
    # machine a timed bound here failed at 4.6 s where quiet runs take 3.5-3.9 s.)
    assert len(sent) == 150
    assert len({r.headers["idempotency-key"] for r in sent}) == 150
    assert max_per_window([r.at for r in sent]) <= 50
    assert {r.headers["idempotency-key"] for r in sent} == set(ids)


def test_a_running_worker_follows_a_workspace_limit_set_at_run_time(
    http: httpx.Client, redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    # Given a workspace with a backlog, sending at the channel's 20 per second
    bulk(http, [sms("ws-tier", i) for i in range(150)])
    with running_worker(env_for(redis_server, receiver, sms_rate_limit=20)):
        receiver.wait_for(30, timeout_s=30)
        # When its limit is set to 2 per second through the API, while it sends
        changed_at = time.time()
        answer = http.put("/api/workspaces/ws-tier/limits", json={"sms": 2})
        assert answer.status_code == 200, answer.text
        time.sleep(4.0)
        limits = http.get("/api/workspaces/ws-tier/limits").json()["sms"]
        # (the limit lifted again, so that the jobs in flight drain quickly at the stop)
        http.put("/api/workspaces/ws-tier/limits", json={"sms": None})
    arrivals = [r.at for r in receiver.sent()]

    # Then before the change it had the channel's rate, and from a second after it the limit's
    before = [at for at in arrivals if changed_at - 1 <= at < changed_at]
    after = [at for at in arrivals if changed_at + 1 <= at < changed_at + 4]
    assert len(before) >= 12, f"{len(before)} in the second before the change"
    assert len(after) <= 2 * 3 + 2, f"{len(after)} in the 3 s from 1 s after the change"
    assert max_per_window(after) <= 3
    # And the API shows the limit, used
    assert limits["limit"] == 2
    assert limits["usedLastSecond"] <= 3
    assert limits["backlog"] > 0


def test_a_small_workspace_is_not_held_up_by_a_big_one(
    http: httpx.Client, redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    # Given workspace A with 2,000 due SMS, then workspace B with 5
    bulk(http, [sms("ws-big", i) for i in range(2000)])
    b_ids = set(bulk(http, [sms("ws-small", i) for i in range(5)]))

    with running_worker(env_for(redis_server, receiver, sms_rate_limit=1000)):
        sent = receiver.wait_for(2005, timeout_s=60)

    # Then B's five arrive among A's first few hundred, not behind A's 2,000: B's batch is the
    # second claimed, so its sends get slots among A's first; but a send more than 10 ms late
    # for its slot (a busy 2-core machine) takes a new one after every slot already given, up
    # to the pacer's horizon later (0.4 s: 400 sends at 1,000/s). Seen in 13 runs: before A's
    # 200th in 10, at 200-204 and at 348-352 once each, split 84-87 / 250-251 once.
    order = [r.headers["idempotency-key"] for r in sent]
    positions = [order.index(job_id) for job_id in b_ids]
    a_positions = [i for i, r in enumerate(sent) if r.body["workspaceId"] == "ws-big"]
    assert len(sent) == 2005
    assert max(positions) < a_positions[199] + 400, positions


def test_high_priority_goes_before_a_campaign_of_the_same_workspace(
    http: httpx.Client, redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    bulk(http, [sms("ws-1", i) for i in range(400)])
    urgent = set(bulk(http, [sms("ws-1", 1000 + i, priority="high") for i in range(3)]))

    with running_worker(env_for(redis_server, receiver, sms_rate_limit=500)):
        sent = receiver.wait_for(403, timeout_s=30)

    order = [r.headers["idempotency-key"] for r in sent]
    assert len(sent) == 403
    assert max(order.index(job_id) for job_id in urgent) < 60


def test_retries_then_success_and_final_failures_keep_their_reason(
    http: httpx.Client, redis_server: EmbeddedRedis, receiver: Receiver, redis: redis_lib.Redis
) -> None:
    # Given a receiver that fails each "flaky" message once, always refuses "bad" ones with a
    # 400, always fails "down" ones with a 500, and rate-limits "busy" ones once with a 429
    attempts: Counter[str] = Counter()

    def behaviour(received: Received) -> tuple[int, dict[str, Any], dict[str, str]]:
        kind = received.body["message"].split()[0]
        attempts[received.body["contactId"]] += 1
        first = attempts[received.body["contactId"]] == 1
        if kind == "flaky" and first:
            return 503, {"error": "temporarily unavailable"}, {}
        if kind == "busy" and first:
            return 429, {"error": "Too Many Requests"}, {"Retry-After": "1"}
        if kind == "bad":
            return 400, {"error": "invalid number"}, {}
        if kind == "down":
            return 500, {"error": "boom"}, {}
        return 200, {"messageId": "ok-" + received.body["contactId"]}, {}

    receiver.behaviour = behaviour
    ids = {}
    for kind in ("flaky", "busy", "bad", "down", "fine"):
        ids[kind] = http.post(
            "/api/schedule-sms",
            json={"phoneNumber": "+14155550100", "message": f"{kind} message",
                  "workspaceId": "ws-r", "contactId": kind},
        ).json()["jobId"]  # fmt: skip

    env = env_for(redis_server, receiver, max_retries=2, retry_base_s=0.1, retry_max_s=0.5)
    with running_worker(env):
        jobs = wait_final(http, list(ids.values()), timeout_s=30)

    status = {kind: jobs[job_id] for kind, job_id in ids.items()}
    assert status["fine"]["status"] == "COMPLETED"
    assert (status["flaky"]["status"], status["flaky"]["attempts"]) == ("COMPLETED", 2)
    assert "503" in status["flaky"]["lastError"]
    assert (status["busy"]["status"], status["busy"]["attempts"]) == ("COMPLETED", 2)
    assert (status["bad"]["status"], status["bad"]["attempts"]) == ("FAILED", 1)
    assert "400" in status["bad"]["lastError"]
    assert "invalid number" in status["bad"]["lastError"]
    assert (status["down"]["status"], status["down"]["attempts"]) == ("FAILED", 3)
    assert "gave up after 3 attempts" in status["down"]["lastError"]
    # And the 429 is recorded for the workspace with its batch size and message
    events = [orjson.loads(e) for e in redis.lrange(KEYS.rate_events("ws-r", "sms"), 0, -1)]
    assert len(events) == 1
    assert "429" in events[0]["errorMessage"]
    assert events[0]["batchSize"] >= 1


def test_a_killed_worker_loses_nothing(
    http: httpx.Client, redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    # Given 300 SMS going out at 100/s, with short leases
    ids = set(
        bulk(http, [sms("ws-a", i) for i in range(150)] + [sms("ws-b", i) for i in range(150)])
    )
    env = env_for(redis_server, receiver, sms_rate_limit=100, lease_s=2)

    # When the worker is killed with SIGKILL twice along the way
    for _ in range(2):
        worker = start_worker(env)
        time.sleep(0.8)
        stop_worker(worker, kill=True)
    with running_worker(env):
        receiver.wait_for(300, timeout_s=40)
        jobs = wait_final(http, sorted(ids), timeout_s=20)

    # Then every message arrived, and any duplicate carries the same idempotency key
    delivered = Counter(r.headers["idempotency-key"] for r in receiver.sent())
    assert set(delivered) == ids
    assert all(job["status"] == "COMPLETED" for job in jobs.values())
    duplicates = sum(count - 1 for count in delivered.values())
    assert duplicates <= 2 * 100, duplicates  # at most what was in flight at each kill


def test_cancel_racing_dispatch_never_sends_a_cancelled_job(
    http: httpx.Client, redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    # Given 200 SMS due in half a second and a worker running
    ids = bulk(http, [sms("ws-c", i, delay=500) for i in range(200)])
    answers: dict[str, int] = {}

    with running_worker(env_for(redis_server, receiver, sms_rate_limit=200)):
        # When half of them are cancelled while they become due
        def cancel(job_ids: list[str]) -> None:
            with httpx.Client(base_url=str(http.base_url), headers=ADMIN_HEADERS) as client:
                for job_id in job_ids:
                    answers[job_id] = client.delete(f"/api/jobs/{job_id}").status_code

        threads = [threading.Thread(target=cancel, args=(ids[i::4][:25],)) for i in range(4)]
        time.sleep(0.4)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        jobs = wait_final(http, ids, timeout_s=30)

    # Then a 200 means never sent and CANCELLED; a 409 means it was sent
    delivered = {r.headers["idempotency-key"] for r in receiver.sent()}
    assert set(answers.values()) <= {200, 409}
    for job_id, code in answers.items():
        if code == 200:
            assert job_id not in delivered
            assert jobs[job_id]["status"] == "CANCELLED"
        else:
            assert job_id in delivered
    for job_id in set(ids) - set(answers):
        assert job_id in delivered
        assert jobs[job_id]["status"] == "COMPLETED"


def test_a_campaign_cancelled_mid_broadcast_sends_only_what_the_answer_calls_not_cancellable(
    http: httpx.Client, redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    # Given a campaign of 400 SMS being sent at 50/s, and another workspace's 20
    campaign = bulk(http, [sms("ws-k", i, metadata={"campaignId": "spring"}) for i in range(400)])
    others = bulk(http, [sms("ws-o", i) for i in range(20)])

    with running_worker(env_for(redis_server, receiver, sms_rate_limit=50)):
        receiver.wait_for(50, timeout_s=30)
        # When the campaign is cancelled mid-way
        answer = http.post("/api/jobs/cancel", json={"workspaceId": "ws-k", "campaignId": "spring"})
        answered_at = time.time()
        jobs = wait_final(http, campaign + others, timeout_s=30)

    # Then what the answer counts as not cancellable is exactly what was sent, nothing else of
    # the campaign reached the provider later than the pacer's horizon after the answer, and
    # the other workspace's messages all went
    counts = answer.json()
    assert answer.status_code == 200, answer.text
    assert counts["cancelled"] + counts["notCancellable"] == 400
    assert counts["alreadyCancelled"] == counts["notFound"] == 0
    assert 0 < counts["cancelled"] <= 350  # 50 had gone when it was asked
    arrivals = {r.headers["idempotency-key"]: r.at for r in receiver.sent()}
    sent = [job_id for job_id in campaign if job_id in arrivals]
    assert len(sent) == counts["notCancellable"]
    assert Counter(jobs[job_id]["status"] for job_id in campaign) == {
        "COMPLETED": counts["notCancellable"],
        "CANCELLED": counts["cancelled"],
    }
    assert max(arrivals[job_id] for job_id in sent) < answered_at + 1.0
    assert all(job_id in arrivals for job_id in others)


def test_a_broker_on_a_database_of_its_own_keeps_dramatiq_s_keys_off_the_jobs(
    http: httpx.Client, redis_server: EmbeddedRedis, redis: redis_lib.Redis, receiver: Receiver
) -> None:
    # Given the broker on database 1 (BROKER_URL), the jobs on database 0
    broker_url = redis_server.url.rsplit("/", 1)[0] + "/1"
    ids = bulk(http, [sms("ws-b", i) for i in range(30)])

    with running_worker(env_for(redis_server, receiver, broker_url=broker_url)):
        jobs = wait_final(http, ids, timeout_s=30)
        broker = redis_lib.Redis.from_url(broker_url)
        broker_keys = {key.decode() for key in broker.keys("*")}
        broker.close()

    # Then everything is sent, and Dramatiq's keys (its queues, acks, heartbeats) are all on
    # database 1: its maintenance's KEYS never walks the job records
    assert {job["status"] for job in jobs.values()} == {"COMPLETED"}
    namespace = KEYS.broker_namespace()
    assert KEYS.broker_heartbeats() in broker_keys
    assert all(key.startswith(namespace) for key in broker_keys)
    assert redis.keys(f"{namespace}*") == []


def test_sigterm_finishes_batches_in_flight_and_the_next_worker_takes_the_rest(
    http: httpx.Client, redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    # Given 100 SMS going out at 25/s
    ids = set(bulk(http, [sms("ws-t", i) for i in range(100)]))
    env = env_for(redis_server, receiver, sms_rate_limit=25)

    # When the worker gets SIGTERM a second in, and another worker starts after it exited
    worker = start_worker(env)
    time.sleep(1.0)
    stop_worker(worker)
    sent_by_first = len(receiver.sent())
    jobs_after_stop = {j: http.get(f"/api/jobs/{j}").json()["status"] for j in ids}
    with running_worker(env):
        receiver.wait_for(100, timeout_s=30)

    # Then the first worker left nothing half-done: no job PROCESSING, none sent twice
    assert worker.returncode == 0
    assert 0 < sent_by_first < 100
    assert "PROCESSING" not in jobs_after_stop.values()
    delivered = Counter(r.headers["idempotency-key"] for r in receiver.sent())
    assert set(delivered) == ids
    assert max(delivered.values()) == 1
