"""Redis restarted under the API and the workers while clients schedule and messages go out:
every job acknowledged before the restart survives it and is delivered; while Redis is away the
API answers 503 at once (never 500, never a hang); the SDK's retries carry clients through."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
import redis as redis_lib

from queue_services_server.dev import EmbeddedRedis
from tests.api_process import ApiProcess
from tests.faults.load import ClientLoad, wait_delivered
from tests.harness import ADMIN_HEADERS
from tests.receiver import Receiver
from tests.workers import delivery_env, running_worker


def probe_while_away(url: str) -> list[tuple[int, float]]:
    """Scheduling requests without any retry while Redis is away: (status, seconds) each."""
    answers = []
    with httpx.Client(base_url=url, headers=ADMIN_HEADERS, timeout=30) as http:
        for n in range(3):
            started = time.monotonic()
            status = http.post(
                "/api/schedule-sms",
                json={"phoneNumber": "+14155550100", "message": "probe", "workspaceId": "ws-probe",
                      "contactId": f"probe-{n}"},
            ).status_code  # fmt: skip
            answers.append((status, time.monotonic() - started))
        started = time.monotonic()
        answers.append((http.get("/ready").status_code, time.monotonic() - started))
    return answers


@pytest.mark.parametrize("how", ["shutdown", "kill -9"])
def test_jobs_acknowledged_before_a_redis_restart_are_delivered(
    how: str, tmp_path: Path, receiver: Receiver
) -> None:
    # Given a Redis with its append-only file on (for "kill -9", fsync on every write: with the
    # default `everysec` a crash may lose the last second of writes, see docs/reliability.md),
    # an API server, a worker sending 200 SMS/s, and 4 SDK clients scheduling without pause
    redis_server = EmbeddedRedis(tmp_path / "redis")
    redis_server.start()
    if how == "kill -9":
        with redis_lib.Redis.from_url(redis_server.url) as client:
            client.config_set("appendfsync", "always")
    api = ApiProcess(redis_server.url)
    api.start()
    load = ClientLoad(api.url, clients=4)  # the SDK's default retries
    try:
        with running_worker(
            delivery_env(redis_server.url, receiver.url, sms_rate_limit=200, lease_s=3)
        ):
            load.start()
            load.wait_for(400)
            # When Redis goes away for a second, as in a restart or a crash
            stopped_at = time.monotonic()
            if how == "kill -9":
                assert redis_server.pid is not None
                os.kill(redis_server.pid, signal.SIGKILL)
            redis_server.stop()  # a clean shutdown (or, after the kill, only the lock released)
            acknowledged_before = {a.job_id for a in load.acknowledged}
            sent_before = len(receiver.sent())
            answers_while_away = probe_while_away(api.url)
            time.sleep(max(0.0, stopped_at + 1.0 - time.monotonic()))
            redis_server.start()
            restarted_at = time.monotonic()
            # ... and clients go on scheduling for a while after it is back
            load.wait_for(len(acknowledged_before) + 400)
            load.stop()
            acknowledged = {a.job_id for a in load.acknowledged}
            missing = wait_delivered(receiver, acknowledged, timeout_s=30)
    finally:
        load.stop()
        api.stop()
        redis_server.stop()

    # Then the API answered 503 at once while Redis was away, never 500 and never a hang
    assert [status for status, _ in answers_while_away] == [503, 503, 503, 503]
    assert max(seconds for _, seconds in answers_while_away) < 1.0, answers_while_away
    # And no client call failed: the SDK's default retries (2, each after the 503's Retry-After
    # of 1 s) carried every call through the outage
    assert load.errors == []
    assert load.requests_sent > len(load.acknowledged)  # some were retried
    assert any(a.at > restarted_at for a in load.acknowledged)
    # And every acknowledged job, before the restart or after, was delivered
    assert sent_before < len(acknowledged_before)  # the restart hit while messages were going out
    assert missing == set(), f"{len(missing)} of {len(acknowledged)} never delivered"
    # And each job is one message: a job acknowledged once was scheduled once (retried calls
    # reuse their idempotency key), and delivered again only if its batch was in flight
    assert len(acknowledged) == len(load.acknowledged)
