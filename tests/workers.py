"""Starting real `queue-services worker` processes for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from queue_services_server.store.connection import connect_sync
from queue_services_server.store.keys import KeySpace
from tests.harness import PRODUCT_VARIABLES, wait_until

KEYS = KeySpace()

#: The webhook secret of workers made by `delivery_env`.
WEBHOOK_SECRET = "webhook-secret"


def worker_env(redis_url: str, **settings: object) -> dict[str, str]:
    """The environment of a worker: REDIS_URL plus settings given as keyword arguments
    (``sms_rate_limit=50`` becomes ``SMS_RATE_LIMIT=50``)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in PRODUCT_VARIABLES and not name.startswith("QUEUE_SERVICES_")
    }
    env.update({"REDIS_URL": redis_url, "QUEUE_SERVICES_LOG_LEVEL": "warning"})
    env.update({name.upper(): str(value) for name, value in settings.items()})
    return env


def start_worker(
    env: Mapping[str, str],
    *,
    processes: int = 1,
    threads: int = 4,
    prefix: Sequence[str] = (),
    heartbeats: int = 1,
    python: str = sys.executable,
) -> subprocess.Popen[bytes]:
    """Start `queue-services worker` (after `prefix`, e.g. ``ip netns exec HOST``) with the
    interpreter `python` (this one by default; another venv's runs the code installed there, as
    the benchmarks run an earlier commit), and wait until `heartbeats` worker processes, its own
    and others', have registered with the broker."""
    process = subprocess.Popen(
        [
            *prefix,
            python,
            "-m",
            "queue_services_server.cli",
            "worker",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
        ],
        env=dict(env),
        start_new_session=True,
    )
    client = connect_sync(env.get("BROKER_URL") or env["REDIS_URL"])  # heartbeats: the broker's

    def registered() -> bool:
        # Each booted worker process registers a Dramatiq heartbeat.
        if process.poll() is not None:
            raise RuntimeError(f"the worker did not start (exit code {process.returncode})")
        return bool(client.zcard(KEYS.broker_heartbeats()) >= heartbeats)

    try:
        wait_until(
            registered,
            timeout_s=30,
            message=f"the worker did not register {heartbeats} heartbeat(s)",
        )
    except BaseException:
        stop_process(process, kill=True, wait_s=10)  # not left running after a failed start
        raise
    finally:
        client.close()
    return process


def stop_process(process: subprocess.Popen[bytes], *, kill: bool = False, wait_s: float) -> None:
    """Stop a process started in a session of its own: SIGTERM to the process only (it stops
    its children itself), or SIGKILL to its whole process group (all die at once, as in a
    crash); SIGKILL anyway if it has not exited after `wait_s`."""
    if process.poll() is None:
        if kill:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.terminate()
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def stop_worker(process: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    """SIGTERM the worker (it finishes the batches in flight), or SIGKILL its whole process
    group. SIGTERM goes to the main process only: it passes the signal on to its worker
    processes once; a second SIGTERM would make them exit without finishing their batches."""
    stop_process(process, kill=kill, wait_s=60)


def delivery_env(redis_url: str, receiver_url: str, **settings: object) -> dict[str, str]:
    """A worker's environment that delivers both channels by webhook to `receiver_url` (see
    `tests/receiver.py`), signed with `WEBHOOK_SECRET`."""
    return worker_env(
        redis_url,
        sms_provider="webhook",
        email_provider="webhook",
        sms_api_url=receiver_url,
        email_api_url=receiver_url,
        webhook_secret=WEBHOOK_SECRET,
        **settings,
    )


@contextmanager
def running_worker(
    env: Mapping[str, str],
    *,
    processes: int = 1,
    threads: int = 4,
    prefix: Sequence[str] = (),
    python: str = sys.executable,
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker for the duration of a `with` block (see `start_worker`)."""
    process = start_worker(env, processes=processes, threads=threads, prefix=prefix, python=python)
    try:
        yield process
    finally:
        stop_worker(process)
