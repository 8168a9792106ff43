"""At start, `serve` and `worker` refuse a Redis that would evict jobs and warn about one that
keeps nothing on disk: checked against real redis-servers reconfigured for the test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from queue_services_server.cli import main
from queue_services_server.dev import EmbeddedRedis, free_port
from queue_services_server.store.redis_check import UnsafeRedisError, check_redis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, redis_lib.Redis]]:
    """A redis-server of the test's own, free to reconfigure."""
    with EmbeddedRedis(tmp_path / "redis") as server:
        client = redis_lib.Redis.from_url(server.url)
        yield server.url, client
        client.close()


def test_a_safe_redis_passes_without_warnings(own_redis: tuple[str, redis_lib.Redis]) -> None:
    url, _ = own_redis  # noeviction and an append-only file, like `queue-services dev`

    found = check_redis(url, allow_eviction=False)

    assert (found.eviction_policy, found.aof, found.warnings) == ("noeviction", True, [])


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl", "allkeys-random"])
def test_an_evicting_redis_is_refused_unless_allowed(
    own_redis: tuple[str, redis_lib.Redis], policy: str
) -> None:
    url, client = own_redis
    client.config_set("maxmemory-policy", policy)

    with pytest.raises(UnsafeRedisError, match="noeviction"):
        check_redis(url, allow_eviction=False)
    allowed = check_redis(url, allow_eviction=True)
    assert allowed.eviction_policy == policy
    assert "REDIS_ALLOW_EVICTION" in allowed.warnings[0]


def test_a_redis_without_persistence_is_warned_about(
    own_redis: tuple[str, redis_lib.Redis],
) -> None:
    url, client = own_redis
    client.config_set("appendonly", "no")
    client.config_set("save", "")

    found = check_redis(url, allow_eviction=False)

    assert (found.aof, found.snapshots) == (False, False)
    assert "persistence is off" in found.warnings[0]


def test_serve_and_worker_refuse_an_evicting_redis_with_the_reason(
    own_redis: tuple[str, redis_lib.Redis],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, client = own_redis
    client.config_set("maxmemory-policy", "allkeys-lru")
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setenv("SMS_PROVIDER", "null")
    monkeypatch.setenv("EMAIL_PROVIDER", "null")
    root = logging.getLogger()  # main() sets up logging; restore it for the other tests
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)

    assert main(["serve", "--port", str(free_port())]) == 2
    assert "maxmemory-policy is 'allkeys-lru'" in capsys.readouterr().err
    assert main(["worker"]) == 2
    assert "REDIS_ALLOW_EVICTION" in capsys.readouterr().err


def test_an_unreachable_redis_is_left_to_the_caller() -> None:
    # `serve` and `worker` then carry on: the API answers 503 until Redis is up.
    with pytest.raises(redis_lib.ConnectionError):
        check_redis(f"redis://127.0.0.1:{free_port()}/0", allow_eviction=False, timeout_s=1)
