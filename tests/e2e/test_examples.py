"""The examples in examples/ run as documented against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis as redis_lib

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_notify_example_runs(api_url: str, redis: redis_lib.Redis) -> None:
    env = {**os.environ, "QUEUE_SERVICES_URL": api_url}

    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "notify.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("SMS ")
    assert "SCHEDULED" in lines[0]
    assert lines[2].endswith("CANCELLED")
    assert (
        lines[3]
        == "rejected as expected: phoneNumber: must be an E.164 number such as +14155550123"
    )
    assert redis.zcard("qs:schedule:sms") == 1


def test_broadcast_progress_example_runs(api_url: str, redis: redis_lib.Redis) -> None:
    env = {**os.environ, "QUEUE_SERVICES_URL": api_url}

    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "broadcast_progress.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("scheduled 5000 of 5000; rejected 0")
    assert "5000/5000" in run.stdout
    assert redis.zcard("qs:schedule:sms") == 5000
