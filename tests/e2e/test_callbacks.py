"""Status callbacks end to end: intake stores the URL, workers POST each change, signed, retried."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis as redis_lib

from queue_services import (
    CallbackHandler,
    InMemoryJobTracker,
    JobStatus,
    QueueService,
    parse_callback,
)
from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from tests.harness import ADMIN_HEADERS, ADMIN_KEY, running_server, wait_until
from tests.receiver import Received, Receiver, running_receiver
from tests.workers import running_worker, worker_env

SECRET = "cb-secret"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def api(redis_server: EmbeddedRedis, redis: redis_lib.Redis, receiver: Receiver) -> Iterator[str]:
    settings = Settings(
        redis_url=redis_server.url,
        callback_allowed_hosts="127.0.0.1",
        admin_key=ADMIN_KEY,
        workspace_callback_urls={"ws-default": f"{receiver.url}/callbacks/workspace"},
    )
    with running_server(settings) as url:
        yield url


def callbacks(receiver: Receiver, name: str) -> list[Received]:
    return [r for r in receiver.received if r.path == f"/callbacks/{name}"]


def test_each_status_change_is_posted_signed_and_updates_a_tracker(
    api: str, redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    # Given a tracked SMS with a callback URL, and a CALLBACK that fails once
    failed_once: list[bool] = []

    def behaviour(received: Received) -> tuple[int, dict[str, Any], dict[str, str]]:
        if received.path.startswith("/callbacks/") and not failed_once:
            failed_once.append(True)
            return 500, {"error": "try later"}, {}
        return 200, {"messageId": "m-1"}, {}

    receiver.behaviour = behaviour
    tracker = InMemoryJobTracker()
    with QueueService(base_url=api, api_key=ADMIN_KEY) as queue:
        result = queue.schedule_sms(
            "+14155550123", "Hi", workspace_id="ws-1", callback_url=f"{receiver.url}/callbacks/job"
        )
    tracker.record(result)
    job_id = result.job_id

    env = worker_env(
        redis_server.url, sms_provider="webhook", email_provider="outbox", sms_api_url=receiver.url,
        callback_secret=SECRET,
    )  # fmt: skip
    with running_worker(env):

        def answered() -> set[str]:
            return {
                r.body["status"]
                for r in callbacks(receiver, "job")
                if r.headers.get("x-answered") == "2xx"
            }

        wait_until(
            lambda: answered() >= {"PROCESSING", "COMPLETED"},
            timeout_s=20,
            interval_s=0.1,
            message=lambda: f"callbacks answered 2xx: {answered()}",
        )

    # Then PROCESSING and COMPLETED arrived (the failed delivery was retried), signed
    delivered = [r for r in callbacks(receiver, "job") if r.headers.get("x-answered") == "2xx"]
    assert {r.body["status"] for r in delivered} >= {"PROCESSING", "COMPLETED"}
    assert len(callbacks(receiver, "job")) == len(delivered) + 1
    events = [parse_callback(r.raw, r.headers, SECRET) for r in delivered]
    assert {event.job_id for event in events} == {job_id}
    completed = next(e for e in events if e.status is JobStatus.COMPLETED)
    assert completed.provider_message_id == "m-1"
    handler = CallbackHandler(tracker, SECRET)
    for request in delivered:
        handler(request.raw, request.headers)
    assert tracker.get(job_id).status is JobStatus.COMPLETED  # type: ignore[union-attr]


def test_the_workspace_url_is_used_when_the_job_gives_none(
    api: str, redis_server: EmbeddedRedis, receiver: Receiver
) -> None:
    tracker = InMemoryJobTracker()
    handler = CallbackHandler(tracker, SECRET)
    with QueueService(base_url=api, api_key=ADMIN_KEY) as queue:
        result = queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-default", delay=60_000)
        tracker.record(result)
        queue.cancel_job(result.job_id)

    env = worker_env(
        redis_server.url, sms_provider="outbox", email_provider="outbox", callback_secret=SECRET
    )
    with running_worker(env):
        wait_until(
            lambda: callbacks(receiver, "workspace"),
            timeout_s=20,
            interval_s=0.1,
            message="no callback reached the workspace's URL",
        )

    [request] = callbacks(receiver, "workspace")
    event, tracked = handler(request.raw, request.headers)
    assert event.status is JobStatus.CANCELLED
    assert tracked is not None
    assert tracked.status is JobStatus.CANCELLED


def test_a_callback_host_not_allowed_is_refused(api: str) -> None:
    answer = httpx.post(
        f"{api}/api/schedule-sms",
        json={"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "ws-1",
              "callbackUrl": "http://169.254.169.254/latest"},
        headers=ADMIN_HEADERS,
    )  # fmt: skip

    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "callbackUrl"
    assert "CALLBACK_ALLOWED_HOSTS" in answer.json()["error"]["message"]
