"""`queue-services dev` and `serve`, and the embedded redis-server behind them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis as redis_lib

from queue_services_server.cli import main
from queue_services_server.dev import EmbeddedRedis, EmbeddedRedisError, free_port
from queue_services_server.store.keys import KeySpace
from tests.harness import wait_until

KEYS = KeySpace()


def test_embedded_redis_keeps_its_data_across_restarts(data_dir: Path) -> None:
    # Given an embedded Redis that stored a key and was shut down
    with EmbeddedRedis(data_dir) as server:
        client = redis_lib.Redis.from_url(server.url)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.set("kept", "yes")
        client.close()

    # When a new one starts on the same folder, on another port
    with EmbeddedRedis(data_dir) as server:
        client = redis_lib.Redis.from_url(server.url)
        # Then the key is there, replayed from the append-only file
        assert client.get("kept") == b"yes"
        client.close()
    assert (data_dir / "appendonlydir").is_dir()


def test_one_data_folder_serves_one_embedded_redis(data_dir: Path) -> None:
    with EmbeddedRedis(data_dir), pytest.raises(EmbeddedRedisError, match="in use"):
        EmbeddedRedis(data_dir).start()


def test_serve_without_redis_url_explains_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve"]) == 2

    assert "REDIS_URL" in capsys.readouterr().err


def test_a_bad_setting_stops_the_command_with_its_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QUEUE_SERVICES_PORT", "eighty")

    assert main(["dev"]) == 2

    assert "QUEUE_SERVICES_PORT" in capsys.readouterr().err


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_dev_serves_the_api_and_stops_redis_cleanly(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    # Given `queue-services dev` started as a newcomer would, in an empty folder
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    command = [sys.executable, "-m", "queue_services_server.cli", "dev", "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"API on http://127.0.0.1:{port}" in banner, banner
        redis_port = int(re.search(r"redis://127\.0\.0\.1:(\d+)", banner).group(1))  # type: ignore[union-attr]
        assert "admin API key" in process.stdout.readline()
        export = process.stdout.readline().strip()
        assert export.startswith("export QUEUE_SERVICES_API_KEY=qsk_"), export
        key = export.partition("=")[2]
        auth = {"Authorization": f"Bearer {key}"}
        url = f"http://127.0.0.1:{port}"
        waiting_since = time.monotonic()

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/ready").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout_s=20, interval_s=0.1, message="the API did not come up")

        # When a message is scheduled, the worker "sends" it into the outbox
        body = {"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "ws-1"}
        assert httpx.post(f"{url}/api/schedule-sms", json=body).status_code == 401
        job_id = httpx.post(f"{url}/api/schedule-sms", json=body, headers=auth).json()["jobId"]
        wait_until(
            lambda: (
                httpx.get(f"{url}/api/jobs/{job_id}", headers=auth).json()["status"] == "COMPLETED"
            ),
            # 20 s more than the API's start had, counted from the same moment: the dev worker
            # boots alongside the API
            timeout_s=waiting_since + 40 - time.monotonic(),
            interval_s=0.1,
            message="the dev worker did not deliver",
        )
        outbox = httpx.get(f"{url}/api/outbox", headers=auth).json()["messages"]
        assert [message["jobId"] for message in outbox] == [job_id]
        # and the command is stopped
        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    # Then it exits cleanly, Redis is gone, and the data is on disk in the local folder
    assert process.returncode == 0, output
    assert "Redis stopped" in output
    with pytest.raises(redis_lib.ConnectionError):
        redis_lib.Redis(port=redis_port, socket_connect_timeout=1).ping()
    log = (tmp_path / ".queue-services" / "redis.log").read_text()
    assert "ready to exit" in log.lower()
    # And the scheduled job is still there when Redis starts again on the same folder
    with EmbeddedRedis(tmp_path / ".queue-services") as restarted:
        client = redis_lib.Redis.from_url(restarted.url)
        assert client.zcard(KEYS.workspace_jobs("ws-1")) == 1
        client.close()
    # And the key is kept (owner-only) for the next run, stored in Redis only as a hash
    kept = tmp_path / ".queue-services" / "dev-admin-key"
    assert kept.read_text().strip() == key
    assert kept.stat().st_mode & 0o777 == 0o600


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


@pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="the parent-death signal (PR_SET_PDEATHSIG) that takes the children down is Linux-only",
)
def test_a_killed_dev_leaves_no_redis_or_worker_behind(tmp_path: Path) -> None:
    # Given `queue-services dev` running with its Redis and its worker
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    command = [sys.executable, "-m", "queue_services_server.cli", "dev", "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(
            lambda: len(_children(process.pid)) >= 2,  # redis-server and the worker
            timeout_s=30,
            interval_s=0.1,
            message="dev did not start its children",
        )
        children = _children(process.pid)
    finally:
        # When it is killed without a chance to stop them
        process.kill()
        process.wait()

    # Then the kernel stops them too
    wait_until(
        lambda: not any(_alive(pid) for pid in children),
        timeout_s=30,
        interval_s=0.1,
        message=lambda: f"left behind: {[p for p in children if _alive(p)]}",
    )
