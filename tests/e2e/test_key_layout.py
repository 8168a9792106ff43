"""The Redis key layout, end to end: a full life of jobs through a real API server (HTTP), a real
worker process, the board, the webhook and outbox providers and status callbacks writes only keys
that `KeySpace` names.

Every key written during the life (seen through Redis's keyspace notifications, so the short-lived
ones too: lanes, leases, the wake token, the rate hold, the per-key request counters) and every key
left at the end (SCAN) must fullmatch one of `KeySpace().patterns()`. This test exists to fail
when some code writes a key KeySpace does not name: a Lua script building ``prefix .. ':...'`` by
hand, a new feature that forgot keys.py, a key outside the prefix. (Checked in a scratch run:
``SET qs:stray 1`` during the life failed both checks, each on its own; ``SET qs:gone 1`` then
``DEL qs:gone`` failed the check of what was written.)
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis as redis_lib

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from queue_services_server.store.keys import KeySpace
from tests.faulty_provider import Action, Answer, Request, running_faulty_provider
from tests.harness import ADMIN_HEADERS, ADMIN_KEY, running_server, wait_until
from tests.receiver import Received, Receiver, running_receiver
from tests.workers import running_worker, worker_env

KEYS = KeySpace()
PATTERNS = KEYS.patterns()
CALLBACK_SECRET = "layout-callback-secret"
FINAL = ("COMPLETED", "FAILED", "CANCELLED")


def unnamed(keys: Iterable[str]) -> set[str]:
    """The keys that no KeySpace pattern names."""
    return {key for key in keys if not any(pattern.fullmatch(key) for pattern in PATTERNS)}


@contextmanager
def written_keys(redis_url: str) -> Iterator[set[str]]:
    """Collects the name of every key written during the block: Redis notifies each command that
    changes a key (Lua scripts' and MULTI's included) and each expiry. The set is complete once
    the block has ended."""
    client = redis_lib.Redis.from_url(redis_url)
    client.config_set("notify-keyspace-events", "EA")  # key events, of every kind of command
    names: set[str] = set()
    done = threading.Event()
    marker = "test-key-layout-done"  # a pub/sub channel: not a key
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe(**{"__keyevent@*__:*": lambda message: names.add(message["data"].decode())})
    pubsub.subscribe(**{marker: lambda message: done.set()})
    thread = pubsub.run_in_thread(sleep_time=0.01, daemon=True)
    try:
        yield names
        # Redis delivers a client's messages in order: once the marker is here, so is every
        # notification of a write made before it.
        client.publish(marker, "1")
        if not done.wait(10):
            raise AssertionError("the keyspace notifications stopped arriving")
    finally:
        thread.stop()
        thread.join(10)
        pubsub.close()
        client.close()


def provider(request: Request, earlier: list[Request]) -> Action:
    """The SMS provider: 429 (Retry-After: 1) the first time for "limited", 500 the first time for
    "flaky", 400 always for "bad", 200 otherwise."""
    contact, key = request.body["contactId"], request.headers["idempotency-key"]
    first = not any(r.headers["idempotency-key"] == key for r in earlier)
    if contact == "limited" and first:
        return Answer(429, {"error": "Too Many Requests"}, {"Retry-After": "1"})
    if contact == "flaky" and first:
        return Answer(500, {"error": "internal error"})
    if contact == "bad":
        return Answer(400, {"error": "invalid phone number"})
    return Answer(200, {"messageId": f"m-{key}"})


def callbacks(receiver: Receiver, name: str, answered: str = "2xx") -> set[str]:
    """The statuses POSTed to /callbacks/<name> and answered so."""
    with receiver.lock:
        return {
            r.body["status"]
            for r in receiver.received
            if r.path == f"/callbacks/{name}" and r.headers.get("x-answered") == answered
        }


def statuses(admin: httpx.Client, job_ids: Iterable[str]) -> dict[str, str]:
    answer = admin.post("/api/jobs/lookup", json={"jobIds": sorted(job_ids)}).json()
    return {job["jobId"]: job["status"] for job in answer["jobs"]}


def board_login(board: httpx.Client) -> str:
    """Log in to the board with the admin key; its CSRF token."""
    assert board.post("/admin/queues/login", data={"key": ADMIN_KEY}).status_code == 303
    token = re.search(r'name="csrf" value="([^"]+)"', board.get("/admin/queues/").text)
    assert token is not None
    return token.group(1)


def client_of(admin: httpx.Client, key: str) -> httpx.Client:
    """A client of the same API server with another key."""
    return httpx.Client(base_url=admin.base_url, headers={"Authorization": f"Bearer {key}"})


def sms(contact: str, workspace: str, **extra: Any) -> dict[str, Any]:
    return {"phoneNumber": "+14155550100", "message": f"to {contact}", "workspaceId": workspace,
            "contactId": contact, **extra}  # fmt: skip


def test_the_checker_catches_a_key_keyspace_does_not_name() -> None:
    stray = {f"{KEYS.prefix}:stray", f"{KEYS.prefix}:job", "elsewhere:job:1"}

    assert unnamed(stray | {KEYS.job("j-1"), KEYS.broker_heartbeats()}) == stray


def test_a_full_life_of_jobs_writes_only_keys_that_keyspace_names(tmp_path: Path) -> None:
    started_s = int(time.time())
    refused: list[bool] = []

    def callback_answer(received: Received) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not refused:  # the first status callback is refused: it goes to the retry set
            refused.append(True)
            return 500, {"error": "try later"}, {}
        return 200, {}, {}

    with (
        EmbeddedRedis(tmp_path / "redis") as redis_server,
        redis_lib.Redis.from_url(redis_server.url) as client,
        written_keys(redis_server.url) as written,
    ):
        with (
            running_receiver(callback_answer) as receiver,
            running_faulty_provider(provider) as sms_provider,
        ):
            callback_settings = {
                "callback_allowed_hosts": "127.0.0.1",
                "workspace_callback_urls": {"ws-b": f"{receiver.url}/callbacks/workspace"},
            }
            settings = Settings(
                redis_url=redis_server.url, admin_key=ADMIN_KEY, **callback_settings
            )
            env = worker_env(
                redis_server.url,
                sms_provider="webhook",
                sms_api_url=sms_provider.url,
                email_provider="outbox",
                callback_secret=CALLBACK_SECRET,
                callback_allowed_hosts="127.0.0.1",
                workspace_callback_urls=json.dumps(callback_settings["workspace_callback_urls"]),
                workspace_rate_limits=json.dumps({"ws-a": {"sms": 20}}),
                max_retries=2,
                retry_base_s=0.2,
                retry_max_s=1.0,
                # The sweep runs as the worker starts (and then once a minute), finding nothing
                # this old: a shorter retention would race the deliveries. The board's clean
                # below deletes with the same code.
                job_retention_s=3600,
            )
            with (
                running_server(settings) as api,
                httpx.Client(base_url=api, headers=ADMIN_HEADERS, timeout=30) as admin,
                httpx.Client(base_url=api, timeout=30) as board,
            ):
                life = run_a_life(admin, board, receiver, sms_provider.requests, env)
        # Everything has stopped: what is left
        left = {key.decode() for key in client.scan_iter(count=1000)}

    # Then every key written during the life, and every key left, is one KeySpace names
    assert unnamed(written) == set(), "written, but not named by KeySpace"
    assert unnamed(left) == set(), "left in Redis, but not named by KeySpace"
    assert left <= written, "the watch missed writes"  # the notifications saw everything
    # And the keys the life must have left are there ...
    ids: dict[str, str] = life["ids"]
    expected_left = {KEYS.job(job_id) for name, job_id in ids.items() if name != "cancelled"} | {
        KEYS.workspace_schedule("sms", "ws-b", "normal"),  # the SMS due in an hour
        KEYS.due("sms", "normal"),
        KEYS.workspace_jobs("ws-a"),
        KEYS.workspace_jobs("ws-b"),
        KEYS.scheduled_count("sms"),
        KEYS.state("sms", "COMPLETED"),
        KEYS.state("sms", "FAILED"),
        KEYS.state("email", "COMPLETED"),
        KEYS.backlog(),
        KEYS.api_key(life["key_id"]),
        KEYS.api_keys(),
        KEYS.metrics("sms"),
        KEYS.metrics("email"),
        KEYS.workspace_metrics("sms"),
        KEYS.workspace_metrics("email"),
        KEYS.rate_limit_counts("sms"),
        KEYS.rate_events("ws-a", "sms"),
        KEYS.callbacks(),
        KEYS.outbox("email"),
        KEYS.tiers("sms"),  # WORKSPACE_RATE_LIMITS, written by the worker as it starts
        KEYS.tiers("email"),  # PUT /api/workspaces/ws-b/limits
    }
    assert expected_left - left == set()
    buckets = range(started_s // 5 * 5, int(time.time()) // 5 * 5 + 5, 5)
    assert left & {KEYS.series("sms", bucket) for bucket in buckets}
    assert left & {KEYS.series("email", bucket) for bucket in buckets}
    # ... and the short-lived ones were written on the way
    expected_written = expected_left | {
        KEYS.job(ids["cancelled"]),
        KEYS.state("sms", "CANCELLED"),
        KEYS.state("sms", "PROCESSING"),
        KEYS.state("email", "PROCESSING"),
        KEYS.api_key(life["revoked_key_id"]),
        KEYS.api_rate(life["key_id"]),
        KEYS.paused("sms"),
        KEYS.workspace_schedule("sms", "ws-a", "high"),
        KEYS.workspace_schedule("sms", "ws-b", "low"),
        KEYS.round("sms", "high"),
        KEYS.round("sms", "low"),
        KEYS.round("email", "normal"),
        KEYS.inflight("sms"),
        KEYS.inflight("email"),
        KEYS.wake("sms"),
        KEYS.pace("sms"),
        KEYS.pace("sms", "ws-a"),
        KEYS.pace_next("sms"),
        KEYS.pace_next("sms", "ws-a"),
        KEYS.rate_hold("sms"),
        KEYS.owners("sms"),
        KEYS.workspace_inflight("sms"),
        KEYS.callback_retries(),
        KEYS.retention_sweep(),
        KEYS.broker_heartbeats(),
    }
    assert expected_written - written == set()


def run_a_life(
    admin: httpx.Client,
    board: httpx.Client,
    receiver: Receiver,
    provider_requests: list[Request],
    env: dict[str, str],
) -> dict[str, Any]:
    """Schedule, deliver, retry, cancel, clean, read: what a deployment does in a day, in
    seconds. Returns the job ids by name and the API key ids."""
    # Given a workspace API key (and one revoked)
    made = admin.post("/api/keys", json={"workspaceId": "ws-a", "name": "layout"}).json()
    revoked = admin.post("/api/keys", json={"workspaceId": "ws-b"}).json()
    assert admin.delete(f"/api/keys/{revoked['id']}").json()["revoked"] is True

    # When an SMS is scheduled with it, with an Idempotency-Key and a callback URL, twice
    single = sms("single", "ws-a", priority="high", callbackUrl=f"{receiver.url}/callbacks/job")
    with client_of(admin, made["key"]) as workspace:
        first = workspace.post("/api/schedule-sms", json=single, headers={"Idempotency-Key": "k1"})
        again = workspace.post("/api/schedule-sms", json=single, headers={"Idempotency-Key": "k1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["jobId"] == first.json()["jobId"]
    ids = {"single": first.json()["jobId"]}
    # ... and more SMS in bulk, some due later, and email, single and in bulk
    bulk = [
        sms("ok", "ws-a"),
        sms("low", "ws-b", priority="low"),
        sms("limited", "ws-a"),
        sms("flaky", "ws-b"),
        sms("bad", "ws-a"),
        sms("later", "ws-b", delay=3_600_000),
        sms("cancelled", "ws-b", delay=60_000),
    ]
    answer = admin.post("/api/schedule-sms/bulk", json={"messages": bulk}).json()
    assert answer["accepted"] == len(bulk), answer
    ids |= {m["contactId"]: r["jobId"] for m, r in zip(bulk, answer["results"], strict=True)}
    email = {"to": "jane@example.com", "subject": "Hi", "text": "Hello", "workspaceId": "ws-a"}
    answer = admin.post("/api/schedule-email", json={**email, "contactId": "mail"})
    ids["mail"] = answer.json()["jobId"]
    mails = [{**email, "workspaceId": "ws-b", "contactId": f"mail-{n}"} for n in range(2)]
    answer = admin.post("/api/schedule-email/bulk", json={"messages": mails}).json()
    ids |= {m["contactId"]: r["jobId"] for m, r in zip(mails, answer["results"], strict=True)}
    # ... one is cancelled, and SMS are paused on the board until the worker is up
    assert admin.delete(f"/api/jobs/{ids['cancelled']}").json()["status"] == "CANCELLED"
    csrf = board_login(board)
    assert board.post("/admin/queues/sms/pause", data={"csrf": csrf}).status_code == 303

    with running_worker(env):
        assert board.post("/admin/queues/sms/resume", data={"csrf": csrf}).status_code == 303
        # Then they are delivered (after a 429, a 500 and their retries), or fail for good
        due = {name: job_id for name, job_id in ids.items() if name not in ("later", "cancelled")}
        wait_until(
            lambda: all(s in FINAL for s in statuses(admin, due.values()).values()),
            timeout_s=60,
            interval_s=0.2,
            message=lambda: f"not all final: {statuses(admin, due.values())}",
        )
        assert statuses(admin, ids.values()) == {
            **dict.fromkeys(due.values(), "COMPLETED"),
            ids["bad"]: "FAILED",
            ids["later"]: "SCHEDULED",
            ids["cancelled"]: "CANCELLED",
        }
        # ... the failed one is retried from the board, and fails again
        retried = board.post(f"/admin/queues/jobs/{ids['bad']}/retry", data={"csrf": csrf})
        assert "done" in retried.headers["location"]
        wait_until(
            lambda: (
                sum(r.body["contactId"] == "bad" for r in list(provider_requests)) >= 2
                and statuses(admin, [ids["bad"]])[ids["bad"]] == "FAILED"
            ),
            timeout_s=30,
            interval_s=0.2,
            message="the job retried from the board did not fail again",
        )
        # ... the status callbacks arrive, the refused one retried
        wait_until(
            lambda: (
                callbacks(receiver, "job") >= {"PROCESSING", "COMPLETED"}
                and "CANCELLED" in callbacks(receiver, "workspace")
            ),
            timeout_s=30,
            interval_s=0.2,
            message=lambda: (
                f"callbacks: job {callbacks(receiver, 'job')}, "
                f"workspace {callbacks(receiver, 'workspace')}"
            ),
        )
        assert callbacks(receiver, "job", "500") | callbacks(receiver, "workspace", "500")

    # And the cancelled job is cleaned from the board (what the retention sweep does)
    clean = {"csrf": csrf, "status": "CANCELLED", "older_than_minutes": "0"}
    cleaned = board.post("/admin/queues/sms/clean", data=clean)
    assert "deleted 1 cancelled" in cleaned.headers["location"].replace("+", " ")
    assert admin.get(f"/api/jobs/{ids['cancelled']}").status_code == 404

    # And the figures are read: metrics, the outbox, listings
    metrics = admin.get("/api/metrics").json()
    assert metrics["sms"]["success"] == 5
    assert metrics["sms"]["rateLimited"] >= 1
    assert metrics["email"]["success"] == 3
    assert metrics["workspaceRateLimits"]["ws-a"]["sms"]["count"] >= 1
    hits = admin.get("/api/metrics/workspace/ws-a").json()["sms"]["details"]
    assert any("429" in hit["errorMessage"] for hit in hits)
    assert admin.get("/metrics").status_code == 200
    limits = admin.get("/api/workspaces/ws-a/limits").json()["sms"]
    assert (limits["limit"], limits["rateLimitHits"]["count"] >= 1) == (20, True)
    tier = admin.put("/api/workspaces/ws-b/limits", json={"email": 5}).json()
    assert tier["email"]["limit"] == 5
    reset = {"type": "email", "workspaceId": "ws-b"}
    assert admin.post("/api/metrics/reset", json=reset).json()["success"] is True
    outbox = admin.get("/api/outbox", params={"channel": "email"}).json()["messages"]
    assert {message["jobId"] for message in outbox} == {ids["mail"], ids["mail-0"], ids["mail-1"]}
    with client_of(admin, made["key"]) as workspace:
        listed = workspace.get("/api/jobs").json()["jobs"]
    own = {ids[name] for name in ("single", "ok", "limited", "bad", "mail")}
    assert {job["jobId"] for job in listed} == own
    assert board.get("/admin/queues/sms/failed").status_code == 200
    return {"ids": ids, "key_id": made["id"], "revoked_key_id": revoked["id"]}
