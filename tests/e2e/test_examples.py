"""The examples in examples/ run as documented against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import redis as redis_lib

from queue_services_server.dev import EmbeddedRedis, free_port
from queue_services_server.settings import Settings
from queue_services_server.store.keys import KeySpace
from tests.harness import ADMIN_KEY, running_server
from tests.workers import running_worker, worker_env

KEYS = KeySpace()

EXAMPLES = Path(__file__).parents[2] / "examples"


def run_example(name: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run examples/<name> as a user would, with `env` added to the environment."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env={**os.environ, "QUEUE_SERVICES_API_KEY": ADMIN_KEY, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_notify_example_runs(api_url: str, redis: redis_lib.Redis) -> None:
    run = run_example("notify.py", QUEUE_SERVICES_URL=api_url)

    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("SMS ")
    assert "SCHEDULED" in lines[0]
    assert lines[2].endswith("CANCELLED")
    assert (
        lines[3]
        == "rejected as expected: phoneNumber: must be an E.164 number such as +14155550123"
    )
    assert int(redis.get(KEYS.scheduled_count("sms")) or 0) == 1


def test_broadcast_progress_example_runs(api_url: str, redis: redis_lib.Redis) -> None:
    run = run_example("broadcast_progress.py", QUEUE_SERVICES_URL=api_url)

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("scheduled 5000 of 5000; rejected 0")
    assert "5000/5000" in run.stdout
    assert int(redis.get(KEYS.scheduled_count("sms")) or 0) == 5000


def test_campaign_example_runs(api_url: str, redis: redis_lib.Redis) -> None:
    run = run_example("campaign.py", QUEUE_SERVICES_URL=api_url)

    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 9
    clocks = [re.search(r" (\d\d):(\d\d) ", line) for line in lines]
    hours = [int(clock.group(1)) for clock in clocks if clock]
    assert len(hours) == 9
    assert all(8 <= hour < 21 for hour in hours)  # nothing inside the 21:00-08:00 quiet hours
    assert " 08:00 " in lines[1]  # day 1 at 21:30 falls in quiet hours: moved to 08:00
    assert int(redis.get(KEYS.scheduled_count("sms")) or 0) == 9


def test_cancel_campaign_example_runs(api_url: str, redis: redis_lib.Redis) -> None:
    first = run_example("cancel_campaign.py", QUEUE_SERVICES_URL=api_url)
    again = run_example("cancel_campaign.py", QUEUE_SERVICES_URL=api_url)

    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "scheduled 3 SMS of spring-2026",
        "cancelled 3, already cancelled 0, too late to cancel 0",
        "CANCELLED, CANCELLED, CANCELLED",
    ]
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[1] == "cancelled 0, already cancelled 3, too late to cancel 0"
    assert int(redis.get(KEYS.scheduled_count("sms")) or 0) == 0


def test_callback_receiver_example_gets_verified_callbacks(
    redis_server: EmbeddedRedis, redis: redis_lib.Redis, tmp_path: Path
) -> None:
    port = free_port()
    settings = Settings(
        redis_url=redis_server.url, callback_allowed_hosts="127.0.0.1", admin_key=ADMIN_KEY
    )
    with running_server(settings) as url:
        env = worker_env(redis_server.url, sms_provider="outbox", email_provider="outbox",
                         callback_secret="example-secret")  # fmt: skip
        with running_worker(env):
            run = run_example(
                "callback_receiver.py",
                QUEUE_SERVICES_URL=url,
                CALLBACK_PORT=str(port),
                TRACKER_DB=str(tmp_path / "t.db"),
                CALLBACK_SECRET="example-secret",
            )

    assert run.returncode == 0, run.stderr
    assert "PROCESSING" in run.stdout
    assert "tracked:" in run.stdout
    assert run.stdout.strip().endswith("is COMPLETED")
