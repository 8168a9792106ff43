"""The connection to Redis, and the one error that leaves the store when Redis is away."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

#: Seconds to wait for a connection or an answer before calling Redis unavailable. Short, so that
#: the API answers 503 while Redis is away instead of hanging its clients.
SOCKET_TIMEOUT_S = 5.0


#: Connections per client (per API or worker process).
MAX_CONNECTIONS = 100


class StoreUnavailableError(Exception):
    """Raised when Redis cannot be reached or cannot serve the request right now."""


def connect(url: str) -> aioredis.Redis:
    """A client for `url` (``redis://``, ``rediss://`` or ``unix://``); connects lazily.

    A command that fails on a broken connection is sent once more on a new one: after Redis
    restarts, every pooled connection is stale, and without this each would fail one request.
    Sending twice is safe for what the store sends: job creation is deduplicated by idempotency
    key, finishing a batch checks the batch id, and a claim whose answer was lost only leaves
    its jobs to their lease. Timeouts are not retried, so a hung Redis still answers 503 within
    `SOCKET_TIMEOUT_S`.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        # A burst of work waits for a free connection (up to SOCKET_TIMEOUT_S) rather than
        # failing at once with "Too many connections", which a sender would count as an attempt.
        max_connections=MAX_CONNECTIONS,
        timeout=SOCKET_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[redis.exceptions.ConnectionError],
    )
    return aioredis.Redis.from_pool(pool)


@contextmanager
def translate_redis_errors() -> Iterator[None]:
    """Turn the redis library's availability errors into `StoreUnavailableError`.

    Only failures of reaching Redis are translated (connection refused or reset, timeouts, a
    server still loading its data, a read-only replica); anything else is a bug and propagates.
    """
    try:
        yield
    except (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        redis.exceptions.BusyLoadingError,
        redis.exceptions.ReadOnlyError,
        redis.exceptions.TryAgainError,
        OSError,
    ) as exc:
        raise StoreUnavailableError(f"Redis is unavailable: {exc}") from exc
