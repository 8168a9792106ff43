"""The connection to Redis (directly or through Sentinel), and the one error that leaves the store
when Redis is away."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel
import redis.exceptions
import redis.sentinel
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.retry import Retry as SyncRetry

#: Seconds to wait for a connection or an answer before calling Redis unavailable. Short, so that
#: the API answers 503 while Redis is away instead of hanging its clients.
SOCKET_TIMEOUT_S = 5.0


#: Connections per client (per API or worker process).
MAX_CONNECTIONS = 100


#: A client of the store's Redis, as the layers above hold it (they hand it to the stores and
#: never send commands themselves).
RedisClient = aioredis.Redis


class StoreUnavailableError(Exception):
    """Raised when Redis cannot be reached or cannot serve the request right now."""


#: The URL scheme naming a primary through Redis Sentinel.
SENTINEL_SCHEME = "redis+sentinel"

#: The URL schemes `connect` takes.
REDIS_SCHEMES = ("redis", "rediss", "unix", SENTINEL_SCHEME)

DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelTarget:
    """A primary found through Sentinel: ``redis+sentinel://[[user]:password@]host[:port][,host
    [:port]...]/service[/db]``. The credentials are the primary's; the sentinels are asked
    without them."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def parse_sentinel_url(url: str) -> SentinelTarget | None:
    """The Sentinel target of `url`, or None for a plain ``redis://`` (or other) URL.

    Raises:
        ValueError: a ``redis+sentinel://`` URL without sentinels or service name, or with a bad
            port or database number.
    """
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        return None
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    sentinels = []
    for host in filter(None, hosts.split(",")):
        if ":" in host and not host.endswith("]"):
            name, _, port = host.rpartition(":")
        else:
            name, port = host, ""
        if not name or (port and not port.isdigit()):
            raise ValueError(f"{SENTINEL_SCHEME} URL: bad sentinel address {host!r}")
        # "[::1]:26379" is an IPv6 address and its port
        sentinels.append((name.strip("[]"), int(port or DEFAULT_SENTINEL_PORT)))
    path = [segment for segment in parts.path.split("/") if segment]
    if not sentinels or not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError(
            f"a {SENTINEL_SCHEME} URL names its sentinels and the primary's service name: "
            f"{SENTINEL_SCHEME}://[[user]:password@]host:26379[,host:26379...]/service[/db]"
        )
    return SentinelTarget(
        sentinels=tuple(sentinels),
        service=unquote(path[0]),
        db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
    )


def redacted(url: str) -> str:
    """`url` with its password (or, without a ``:``, its whole user part) shown as ``***``, for
    messages and logs."""
    parts = urlsplit(url)
    credentials, at, hosts = parts.netloc.rpartition("@")
    if not at:
        return url
    user, colon, _ = credentials.partition(":")
    return parts._replace(netloc=f"{user}:***@{hosts}" if colon else f"***@{hosts}").geturl()


def _options(timeout_s: float | None) -> dict[str, Any]:
    return {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}


def _credentials(target: SentinelTarget) -> dict[str, Any]:
    return {"db": target.db, "username": target.username, "password": target.password}


class _BlockingSentinelConnectionPool(
    redis.asyncio.sentinel.SentinelConnectionPool, aioredis.BlockingConnectionPool
):
    """Sentinel's pool (connections to whichever server is the primary now) that waits for a
    free connection like `BlockingConnectionPool` instead of failing."""


def connect(url: str) -> aioredis.Redis:
    """A client for `url` (``redis://``, ``rediss://``, ``unix://`` or ``redis+sentinel://``);
    connects lazily.

    A command that fails on a broken connection is sent once more on a new one: after Redis
    restarts, every pooled connection is stale, and without this each would fail one request.
    Through Sentinel, the new connection goes to the primary the sentinels name now (a demoted
    primary's "READONLY" answer counts as a broken connection). Sending twice is safe for what
    the store sends: job creation is deduplicated by idempotency key, finishing a batch checks
    the batch id, and a claim whose answer was lost only leaves its jobs to their lease.
    Timeouts are not retried, so a hung Redis still answers 503 within `SOCKET_TIMEOUT_S`.
    """
    options: dict[str, Any] = {
        **_options(SOCKET_TIMEOUT_S),
        # A burst of work waits for a free connection (up to SOCKET_TIMEOUT_S) rather than
        # failing at once with "Too many connections", which a sender would count as an attempt.
        "max_connections": MAX_CONNECTIONS,
        "timeout": SOCKET_TIMEOUT_S,
        "health_check_interval": 30,
        "retry": Retry(NoBackoff(), 1),
        "retry_on_error": [redis.exceptions.ConnectionError],
    }
    target = parse_sentinel_url(url)
    if target is None:
        return aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(url, **options))
    sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        # One try per sentinel: asking the next one is the retry. redis-py's default retries
        # with backoff made a worker whose sentinels were gone take minutes to stop.
        sentinel_kwargs={**_options(SOCKET_TIMEOUT_S), "retry": Retry(NoBackoff(), 0)},
    )
    client: aioredis.Redis = sentinel.master_for(
        target.service,
        connection_pool_class=_BlockingSentinelConnectionPool,
        **_credentials(target),
        **options,
    )
    return client


def connect_sync(url: str, *, timeout_s: float | None = SOCKET_TIMEOUT_S) -> redis.Redis:
    """A blocking client for `url`, as `connect`, for Dramatiq's broker (`timeout_s` None: it
    polls, and waits as long as Redis takes) and the start-up checks."""
    retry: dict[str, Any] = {
        "retry": SyncRetry(NoBackoff(), 1),
        "retry_on_error": [redis.exceptions.ConnectionError],
    }
    target = parse_sentinel_url(url)
    if target is None:
        return redis.Redis.from_url(url, **_options(timeout_s), **retry)
    sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        sentinel_kwargs={
            **_options(timeout_s or SOCKET_TIMEOUT_S),
            "retry": SyncRetry(NoBackoff(), 0),
        },
    )
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.service, **_credentials(target), **_options(timeout_s), **retry
    )
    return client


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
