"""Redis URLs: plain and through Sentinel, checked at start, shown without their password."""

from __future__ import annotations

import time

import pydantic
import pytest
import redis.exceptions

from queue_services_server.dev import free_port
from queue_services_server.settings import Settings
from queue_services_server.store.connection import (
    SentinelTarget,
    connect,
    connect_sync,
    parse_sentinel_url,
    redacted,
)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("redis+sentinel://10.0.0.1:26379/queue", SentinelTarget((("10.0.0.1", 26379),), "queue")),
        (
            "redis+sentinel://:s%40cret@a:5000,b,[::1]:5001/queue/3",
            SentinelTarget(
                (("a", 5000), ("b", 26379), ("::1", 5001)), "queue", db=3, password="s@cret"
            ),
        ),
        (
            "redis+sentinel://app:pw@a/queue",
            SentinelTarget((("a", 26379),), "queue", username="app", password="pw"),
        ),
        ("redis://127.0.0.1:6379/0", None),
        ("unix:///run/redis.sock", None),
    ],
)
def test_a_sentinel_url_names_its_sentinels_service_database_and_credentials(
    url: str, target: SentinelTarget | None
) -> None:
    assert parse_sentinel_url(url) == target


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://a:26379",  # no service
        "redis+sentinel:///queue",  # no sentinel
        "redis+sentinel://a:port/queue",
        "redis+sentinel://a/queue/db",
        "redis+sentinel://a/queue/0/extra",
        "http://127.0.0.1:6379/0",
    ],
)
def test_a_wrong_redis_url_is_refused_at_start_without_showing_it(url: str) -> None:
    secret_url = url.replace("://", "://:hunter2@", 1)

    with pytest.raises(pydantic.ValidationError) as refused:
        Settings(redis_url=secret_url)

    message = str(refused.value)
    assert "redis_url" in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("rediss://user:p@ss@h/0", "rediss://user:***@h/0"),
        ("rediss://token@h/0", "rediss://***@h/0"),
        ("redis+sentinel://:pw@a:1,b:2/queue", "redis+sentinel://:***@a:1,b:2/queue"),
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redacted(url) == shown


def _gone_sentinels_url() -> str:
    # Two ports nothing listens on: every sentinel refuses the connection.
    return f"redis+sentinel://127.0.0.1:{free_port()},127.0.0.1:{free_port()}/queue"


def test_asking_sentinels_that_are_all_gone_fails_at_once() -> None:
    # Given sentinels that are all gone, when a sync client asks them for the primary
    client = connect_sync(_gone_sentinels_url())
    started = time.monotonic()
    with pytest.raises(redis.exceptions.ConnectionError):
        client.ping()

    # Then it gives up after one try per sentinel, not after redis-py's retries with backoff
    # (17 s measured without the fix), which kept a stopping worker waiting for minutes
    assert time.monotonic() - started < 5


async def test_asking_gone_sentinels_from_asyncio_fails_at_once() -> None:
    client = connect(_gone_sentinels_url())
    started = time.monotonic()
    with pytest.raises(redis.exceptions.ConnectionError):
        await client.ping()
    await client.aclose()

    assert time.monotonic() - started < 5
