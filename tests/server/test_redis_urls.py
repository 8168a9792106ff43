"""Redis URLs: plain and through Sentinel, checked at start, shown without their password."""

from __future__ import annotations

import pydantic
import pytest

from queue_services_server.settings import Settings
from queue_services_server.store.connection import (
    SentinelTarget,
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
