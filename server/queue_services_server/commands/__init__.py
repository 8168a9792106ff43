"""The subcommands of ``queue-services``, one module each (`serve`, `worker`, `dev`, `keys`), and
what they share: `CommandError` and the start-up check of Redis. `cli.py` parses the command
line and calls them."""

from __future__ import annotations

import logging

import redis.exceptions

from queue_services_server.settings import Settings
from queue_services_server.store.redis_check import UnsafeRedisError, check_redis

logger = logging.getLogger("queue_services_server")


class CommandError(Exception):
    """A command cannot go on: `cli.main` prints ``queue-services <command>: <message>`` on
    stderr and exits with `exit_code` (2: the settings or the arguments are wrong; 1: something
    it needs is unavailable or missing)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def check_redis_is_safe(settings: Settings) -> None:
    """Check the Redis of ``REDIS_URL`` before starting (see `store/redis_check.py`): raises
    `CommandError` if it would evict jobs; warnings are logged. A Redis that cannot be reached
    yet is not a reason to refuse: the API answers 503 and workers wait until it is up."""
    try:
        found = check_redis(settings.redis_url or "", allow_eviction=settings.redis_allow_eviction)
    except UnsafeRedisError as exc:
        raise CommandError(str(exc)) from exc
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        logger.warning("Redis could not be checked at start (%s); carrying on", exc)
        return
    for warning in found.warnings:
        logger.warning(warning)
