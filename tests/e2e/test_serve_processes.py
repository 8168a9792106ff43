"""`queue-services serve --workers N`: N processes answer on one port; SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from queue_services_server.commands.serve import api_processes
from queue_services_server.dev import EmbeddedRedis, free_port
from queue_services_server.settings import Settings
from tests.benchmarks.common import descendants
from tests.harness import ADMIN_HEADERS, ADMIN_KEY, wait_until
from tests.workers import worker_env


def serving_processes(pid: int) -> set[int]:
    """Those of `pid`'s descendants that run uvicorn's worker processes (multiprocessing's
    resource tracker is one of the descendants too)."""
    return {
        child
        for child in descendants(pid)
        if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()
    }


def test_processes_default_to_the_cpus_this_process_may_use() -> None:
    assert api_processes(Settings()) == len(os.sched_getaffinity(0))
    assert api_processes(Settings(api_workers=3)) == 3


def test_two_processes_answer_on_one_port_and_sigterm_stops_both(tmp_path: Path) -> None:
    # Given `serve --workers 2`
    with EmbeddedRedis(tmp_path / "redis") as redis:
        port = free_port()
        env = {**worker_env(redis.url), "QUEUE_SERVICES_ADMIN_KEY": ADMIN_KEY}
        server = subprocess.Popen(
            [sys.executable, "-m", "queue_services_server.cli", "serve", "--port", str(port),
             "--workers", "2"],
            env=env, start_new_session=True,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"

            def ready() -> bool:
                try:
                    return httpx.get(f"{url}/ready", timeout=1).status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(ready, timeout_s=30, interval_s=0.1)
            wait_until(lambda: len(serving_processes(server.pid)) == 2, timeout_s=30)
            processes = serving_processes(server.pid)

            # When 200 messages are scheduled through it, 16 at a time
            def schedule(n: int) -> tuple[int, str]:
                body = {"phoneNumber": "+14155550123", "message": f"m{n}", "workspaceId": "ws-1"}
                answer = httpx.post(
                    f"{url}/api/schedule-sms", json=body, headers=ADMIN_HEADERS, timeout=30
                )
                return answer.status_code, answer.json().get("jobId", "")

            with ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(schedule, range(200)))

            # Then every one is accepted and stored once
            assert [status for status, _ in answers] == [201] * 200
            assert len({job_id for _, job_id in answers}) == 200
            with httpx.Client(base_url=url, headers=ADMIN_HEADERS) as http:
                depth = http.get("/api/metrics").json()["sms"]["queue"]
            assert depth["scheduled"] + depth["due"] == 200
        finally:
            # And SIGTERM to the server stops both of its processes
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        assert server.returncode == 0
        assert not [pid for pid in processes if Path(f"/proc/{pid}").exists()]
