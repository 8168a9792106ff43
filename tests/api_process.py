"""Starting a real `queue-services serve` process for tests and benchmarks, so that it can be
stopped, killed and started again on the same port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from queue_services_server.dev import free_port
from tests.harness import ADMIN_KEY, wait_until
from tests.workers import stop_process, worker_env


class ApiProcess:
    """`queue-services serve` on a fixed port of 127.0.0.1; `start()` may be called again after
    `stop()` or `kill()`, and serves on the same address. `python`: the interpreter that runs it
    (this one by default; another venv's runs the code installed there)."""

    def __init__(
        self,
        redis_url: str,
        *,
        port: int | None = None,
        python: str = sys.executable,
        **settings: object,
    ) -> None:
        self.port = port or free_port()
        self.python = python
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {
            # One process unless a test asks for more (`api_workers=N`): the suite starts many
            # servers on two cores; tests/e2e/test_serve_processes.py tests several.
            "API_WORKERS": "1",
            **worker_env(redis_url, **settings),
            "QUEUE_SERVICES_ADMIN_KEY": ADMIN_KEY,  # as for the in-thread servers
            "API_RATE_LIMIT": "0",  # tests send requests as fast as they can
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30) -> None:
        """Start the server and wait until `/health` answers (Redis may be away: not `/ready`)."""
        self.process = subprocess.Popen(
            [self.python, "-m", "queue_services_server.cli", "serve", "--port", str(self.port)],
            env=self._env,
            start_new_session=True,
        )
        process = self.process

        def healthy() -> bool:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"the API server did not start (exit {process.returncode})")
            return False

        wait_until(healthy, timeout_s=timeout_s, message="the API server did not answer /health")

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (uvicorn finishes the requests in flight) or SIGKILL (a crash)."""
        process, self.process = self.process, None
        if process is not None:
            stop_process(process, kill=kill, wait_s=30)


@contextmanager
def running_api(
    redis_url: str, *, python: str = sys.executable, **settings: object
) -> Iterator[ApiProcess]:
    """An API server process for the duration of a `with` block."""
    api = ApiProcess(redis_url, python=python, **settings)
    api.start()
    try:
        yield api
    finally:
        api.stop()
