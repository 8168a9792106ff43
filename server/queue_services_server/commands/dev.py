"""``queue-services dev``: the API, a delivery worker and, unless ``REDIS_URL`` is set, an
embedded redis-server (`queue_services_server.dev`) whose data stays in a local folder, with the
outbox provider, under one command that Ctrl-C stops."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any

from queue_services_server.commands import CommandError, check_redis_is_safe
from queue_services_server.commands.keys import dev_admin_key
from queue_services_server.commands.serve import run_api
from queue_services_server.commands.worker import (
    check_providers,
    worker_command,
    worker_environment,
)
from queue_services_server.dev import EmbeddedRedis, EmbeddedRedisError, die_with_parent
from queue_services_server.settings import Settings
from queue_services_server.store.connection import StoreUnavailableError, redacted

#: Seconds a stopping worker has to finish its batches before it is killed.
WORKER_STOP_S = 60


def _with_dev_defaults(settings: Settings) -> Settings:
    # Messages go to the outbox, nowhere outside, unless configured otherwise.
    defaults: dict[str, Any] = {}
    if "SMS_PROVIDER" not in os.environ:
        defaults["sms_provider"] = "outbox"
    if "EMAIL_PROVIDER" not in os.environ:
        defaults["email_provider"] = "outbox"
    if "CALLBACK_ALLOWED_HOSTS" not in os.environ:
        # Callbacks to this machine only, e.g. examples/callback_receiver.py.
        defaults["callback_allowed_hosts"] = "127.0.0.1,localhost"
    return settings.model_copy(update=defaults)


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    one_process = settings.model_copy(update={"worker_processes": 1, "worker_threads": 4})
    env = worker_environment(one_process)
    env.update(
        REDIS_URL=settings.redis_url or "",
        SMS_PROVIDER=settings.sms_provider,
        EMAIL_PROVIDER=settings.email_provider,
    )
    # A session of its own, like Redis: Ctrl-C reaches this process, which then stops the
    # worker with one SIGTERM (it finishes its batches) rather than two signals at once.
    return subprocess.Popen(
        worker_command(one_process), env=env, start_new_session=True, preexec_fn=die_with_parent
    )


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    # SIGTERM: the worker finishes the batches it has taken, then exits.
    worker.terminate()
    try:
        worker.wait(WORKER_STOP_S)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def dev(settings: Settings, *, no_worker: bool = False) -> int:
    """Run the API and a worker with an embedded Redis (unless ``REDIS_URL`` is set) and the
    outbox provider (unless SMS_PROVIDER / EMAIL_PROVIDER say otherwise), until Ctrl-C."""
    settings = _with_dev_defaults(settings)
    embedded: EmbeddedRedis | None = None
    if settings.redis_url:
        where = "from REDIS_URL"
        check_redis_is_safe(settings)
    else:
        embedded = EmbeddedRedis(settings.data_dir)
        try:
            url = embedded.start()
        except EmbeddedRedisError as exc:
            raise CommandError(str(exc), exit_code=1) from exc
        settings = settings.model_copy(update={"redis_url": url})
        where = f"embedded, data in {embedded.data_dir}"
    worker: subprocess.Popen[bytes] | None = None
    try:
        try:
            admin_key = dev_admin_key(settings)
        except StoreUnavailableError as exc:
            raise CommandError(str(exc), exit_code=1) from exc
        address = f"http://{settings.host}:{settings.port}"
        print(
            f"queue-services dev: API on {address}  "
            f"(Redis {redacted(settings.redis_url or '')}, {where})\n"
            f"queue-services dev: admin API key (kept in {settings.data_dir / 'dev-admin-key'}):\n"
            f"    export QUEUE_SERVICES_API_KEY={admin_key}\n"
            f"queue-services dev: board at {address}/admin/queues (log in with that key), "
            f"API reference at {address}/openapi.json; Ctrl-C stops everything",
            flush=True,
        )
        if not no_worker:
            check_providers(settings)
            worker = _start_worker(settings)
        # uvicorn shuts down on SIGTERM and then re-raises it; handled like Ctrl-C, it reaches
        # the `finally` below instead of killing the process before Redis is stopped.
        signal.signal(signal.SIGTERM, _interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            run_api(settings)
    finally:
        if worker is not None:
            _stop_worker(worker)
        if embedded is not None:
            embedded.stop()
            print("queue-services dev: Redis stopped, data saved", flush=True)
    return 0
