"""``queue-services worker``: the delivery workers (Dramatiq processes) against ``REDIS_URL``."""

from __future__ import annotations

import os
import sys

from queue_services_server.commands import CommandError, check_redis_is_safe
from queue_services_server.delivery.config import QUEUES
from queue_services_server.delivery.providers.factory import (
    ProviderConfigError,
    check_provider_settings,
)
from queue_services_server.settings import Settings

#: The module and attribute Dramatiq's processes import to get the broker with its actors.
BROKER = "queue_services_server.delivery.worker:broker"


def worker_command(settings: Settings) -> list[str]:
    """The Dramatiq command line that runs the delivery workers for `settings`."""
    return [
        sys.executable,
        "-m",
        "dramatiq",
        BROKER,
        "--processes",
        str(settings.worker_processes),
        "--threads",
        str(settings.worker_threads),
        "--queues",
        *QUEUES.values(),
        # Logging is set up by our broker module (format, masking), not by Dramatiq.
        "--skip-logging",
    ]


def worker_environment(settings: Settings) -> dict[str, str]:
    """The environment of the worker processes: ours, plus what Dramatiq reads at import."""
    return {
        **os.environ,
        # Dramatiq's consumers poll an idle queue with a backoff up to this many ms: short, so a
        # batch is picked up within tens of ms (the dispatch lookahead covers the rest).
        "dramatiq_worker_timeout": os.environ.get("dramatiq_worker_timeout", "100"),  # noqa: SIM112
        "QUEUE_SERVICES_LOG_LEVEL": settings.log_level,
        "QUEUE_SERVICES_LOG_FORMAT": settings.log_format,
    }


def check_providers(settings: Settings) -> None:
    """Raise `CommandError` now for provider settings a worker would refuse later."""
    try:
        check_provider_settings(settings)
    except ProviderConfigError as exc:
        raise CommandError(str(exc)) from exc


def worker(settings: Settings) -> int:
    """Run the delivery workers until stopped (SIGTERM finishes the batches in flight)."""
    if not settings.redis_url:
        raise CommandError("REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379/0)")
    check_providers(settings)
    check_redis_is_safe(settings)
    env = worker_environment(settings)
    env["REDIS_URL"] = settings.redis_url
    command = worker_command(settings)
    # Replace this process, so that signals (SIGTERM from an orchestrator) reach Dramatiq.
    os.execve(command[0], command, env)
    return 0  # not reached
