"""A provider that fails the way real ones do: every job still ends delivered, or FAILED with its
reason after its retries, and the counts add up (jobs, provider, metrics)."""

from __future__ import annotations

from collections import Counter
from contextlib import suppress
from typing import Any

import httpx
import redis as redis_lib

from queue_services_server.dev import EmbeddedRedis
from tests.faulty_provider import Action, Answer, Hang, Request, Reset, running_faulty_provider
from tests.harness import WaitTimeout, wait_until
from tests.workers import delivery_env, running_worker

#: Jobs of each kind, and what the provider does with their attempts.
KINDS = {
    "ok": 200,  # answered at once
    "slow": 100,  # answered after 0.4 s (under the 1 s timeout)
    "e500": 100,  # 500 on the first two attempts, then sent
    "timeout": 50,  # first attempt taken, its answer never comes; the retry finds it sent
    "reset": 50,  # first attempt's connection reset; then sent
    "bad": 20,  # 400: refused for good, no retry
    "down": 20,  # 500 on every attempt: failed after them all
    "cut": 20,  # connection reset on every attempt
    "mute": 10,  # no answer on any attempt
}
MAX_RETRIES = 3
#: From the 150th request, for 2 s, the provider answers every "ok" and "slow" message with a
#: 429 and Retry-After: 1.
BURST_AFTER_REQUESTS, BURST_S = 150, 2.0


def behaviour(request: Request, earlier: list[Request]) -> Action:
    kind = request.body["contactId"].split("-")[0]
    attempt = int(request.headers["x-queue-attempt"])
    burst_from = earlier[BURST_AFTER_REQUESTS].at if len(earlier) > BURST_AFTER_REQUESTS else 0
    if burst_from and request.at - burst_from < BURST_S and kind in ("ok", "slow"):
        return Answer(429, {"error": "Too Many Requests"}, {"Retry-After": "1"})
    key = request.headers["idempotency-key"]
    if kind == "timeout" and attempt > 1:
        # A provider that honours idempotency keys: the retry of a message it already took
        # is answered as sent, and not sent again.
        return Answer(200, {"messageId": f"m-{key}", "duplicate": True})
    match kind:
        case "slow":
            return Answer(200, {"messageId": f"m-{key}"}, delay_s=0.4)
        case "e500" if attempt <= 2:
            return Answer(500, {"error": "internal error"})
        case "timeout":
            return Hang(hold_s=2.0, accepted=True)
        case "reset" if attempt == 1:
            return Reset()
        case "bad":
            return Answer(400, {"error": "invalid phone number"})
        case "down":
            return Answer(500, {"error": "upstream down"})
        case "cut":
            return Reset()
        case "mute":
            return Hang(hold_s=2.0)
    return Answer(200, {"messageId": f"m-{key}"})


def final_jobs(http: httpx.Client, ids: list[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    """The jobs of `ids` that reached COMPLETED or FAILED: all of them, unless the time ran out
    (the test then counts the ones that never finished)."""
    pending = set(ids)
    jobs: dict[str, dict[str, Any]] = {}

    def all_final() -> bool:
        asked = sorted(pending)
        for start in range(0, len(asked), 500):  # the lookup's most ids per request
            chunk = {"jobIds": asked[start : start + 500]}
            for job in http.post("/api/jobs/lookup", json=chunk).json()["jobs"]:
                if job["status"] in ("COMPLETED", "FAILED"):
                    jobs[job["jobId"]] = job
                    pending.discard(job["jobId"])
        return not pending

    with suppress(WaitTimeout):
        wait_until(all_final, timeout_s=timeout_s, interval_s=0.3)
    return jobs


def test_every_job_ends_sent_or_failed_with_its_reason_and_the_counts_add_up(
    http: httpx.Client, redis_server: EmbeddedRedis, redis: redis_lib.Redis
) -> None:
    # Given 570 SMS of nine kinds, from three workspaces
    messages = [
        {
            "phoneNumber": f"+1415555{n:04d}",
            "message": f"{kind} message {n}",
            "workspaceId": f"ws-{n % 3}",
            "contactId": f"{kind}-{n}",
        }
        for kind, count in KINDS.items()
        for n in range(count)
    ]
    answer = http.post("/api/schedule-sms/bulk", json={"messages": messages}).json()
    assert answer["accepted"] == len(messages)
    kind_of = {
        result["jobId"]: message["contactId"].split("-")[0]
        for result, message in zip(answer["results"], messages, strict=True)
    }

    # When a worker sends them through the faulty provider (at 300/s, 1 s timeout, 3 retries)
    with running_faulty_provider(behaviour) as provider:
        env = delivery_env(
            redis_server.url,
            provider.url,
            sms_rate_limit=300,
            provider_timeout_s=1.0,
            max_retries=MAX_RETRIES,
            retry_base_s=0.2,
            retry_max_s=1.0,
        )
        with running_worker(env):
            jobs = final_jobs(http, list(kind_of), timeout_s=90)
        accepted = provider.accepted_keys()
        requests = list(provider.requests)

    # Then every job reached a final status
    assert len(jobs) == len(kind_of), f"{len(kind_of) - len(jobs)} jobs never finished"
    status = Counter((kind_of[j], job["status"]) for j, job in jobs.items())
    for kind in ("ok", "slow", "e500", "timeout", "reset"):
        assert status[(kind, "COMPLETED")] == KINDS[kind], (kind, status)
    for kind in ("bad", "down", "cut", "mute"):
        assert status[(kind, "FAILED")] == KINDS[kind], (kind, status)

    # And each failure says why, after the retries its kind deserves
    for job_id, job in jobs.items():
        kind = kind_of[job_id]
        if job["status"] != "FAILED":
            continue
        if kind == "bad":
            assert job["attempts"] == 1
            assert "400" in job["lastError"]
            assert "invalid phone number" in job["lastError"]
        else:
            assert job["attempts"] == MAX_RETRIES + 1, job
            assert f"gave up after {MAX_RETRIES + 1} attempts" in job["lastError"]
            reason = {"down": "500", "cut": "unreachable", "mute": "timed out"}[kind]
            assert reason in job["lastError"], job["lastError"]

    # And the jobs sent are exactly the messages the provider took, each taken once
    completed = {j for j, job in jobs.items() if job["status"] == "COMPLETED"}
    assert completed == accepted
    taken = Counter(
        r.headers["idempotency-key"]
        for r in requests
        if r.action is not None
        and r.action.accepted
        and not (isinstance(r.action, Answer) and r.action.body.get("duplicate"))
    )
    assert set(taken) == completed, Counter(kind_of[j] for j in completed - set(taken))
    assert max(taken.values()) == 1
    # ... and the jobs caught in the 429 burst went out after waiting their Retry-After
    burst = [r for r in requests if isinstance(r.action, Answer) and r.action.status == 429]
    assert burst
    for request in burst:
        key = request.headers["idempotency-key"]
        later = [r.at for r in requests if r.headers["idempotency-key"] == key]
        later = [at for at in later if at > request.at]
        assert jobs[key]["status"] == "COMPLETED"
        assert min(later) - request.at >= 0.9  # Retry-After: 1, less the clock's granularity
    # And the metrics agree with the jobs
    metrics = http.get("/api/metrics").json()["sms"]
    assert metrics["success"] == len(completed)
    assert metrics["failed"] == len(jobs) - len(completed)
    assert metrics["total"] == len(kind_of)
    assert metrics["rateLimited"] == len(burst)
