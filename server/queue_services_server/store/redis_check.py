"""Checking, at start, that the Redis we are given will not drop jobs by itself.

An eviction policy other than ``noeviction`` lets Redis delete keys when it is full: jobs that
were accepted would vanish without a trace. That is refused unless ``REDIS_ALLOW_EVICTION`` says
the operator knows. Persistence switched off (no append-only file, no snapshots) means a Redis
restart loses every job: allowed (some run Redis that way on purpose, with replicas), but warned
about.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.exceptions

from queue_services_server.store.connection import connect_sync


class UnsafeRedisError(Exception):
    """The Redis would drop accepted jobs (an eviction policy), and that was not allowed."""


@dataclass(frozen=True)
class RedisCheck:
    """What the check found."""

    eviction_policy: str
    aof: bool
    snapshots: bool
    warnings: list[str] = field(default_factory=list)


def check_redis(url: str, *, allow_eviction: bool, timeout_s: float = 5.0) -> RedisCheck:
    """Inspect the Redis at `url`.

    Raises:
        UnsafeRedisError: its eviction policy is not ``noeviction`` and `allow_eviction` is false.
        redis.exceptions.ConnectionError: it cannot be reached (the caller decides what that means).
    """
    client = connect_sync(url, timeout_s=timeout_s)
    try:
        memory = client.info("memory")
        persistence = client.info("persistence")
        policy = str(memory.get("maxmemory_policy", "noeviction"))
        aof = bool(int(persistence.get("aof_enabled", 0)))
        try:
            save = str(client.config_get("save").get("save", ""))
        except redis.exceptions.ResponseError:  # CONFIG is disabled on some managed services
            save = "unknown"
    finally:
        client.close()
    snapshots = save not in ("", '""')
    warnings = []
    if policy != "noeviction":
        message = (
            f"Redis's maxmemory-policy is {policy!r}: when Redis is full it deletes keys, and "
            "accepted jobs would vanish. Set maxmemory-policy noeviction (then a full Redis "
            "refuses new jobs with 503 instead)"
        )
        if not allow_eviction:
            raise UnsafeRedisError(message + ", or set REDIS_ALLOW_EVICTION=true to accept it.")
        warnings.append(message + " (accepted: REDIS_ALLOW_EVICTION=true).")
    if not aof and not snapshots:
        warnings.append(
            "Redis persistence is off (no append-only file, no snapshots): a Redis restart "
            "loses every scheduled job. Turn on appendonly yes for production."
        )
    return RedisCheck(policy, aof, snapshots, warnings)
