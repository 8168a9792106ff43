"""Shared fixtures: a real throwaway redis-server, a real uvicorn server, a clean environment.
What they are built from (the admin key, the product's variables, `running_server`,
`wait_until`) is in `tests/harness.py`, for test modules to import."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis as redis_lib
import redis.asyncio as aioredis

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from tests.harness import ADMIN_HEADERS, ADMIN_KEY, PRODUCT_VARIABLES, running_server


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove the product's environment variables for the duration of each test."""
    for name in list(os.environ):
        if name.upper() in PRODUCT_VARIABLES or name.startswith("QUEUE_SERVICES_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A real redis-server on a free port of 127.0.0.1, removed at the end of the session."""
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis(redis_server: EmbeddedRedis) -> Iterator[redis_lib.Redis]:
    """A client of the session's Redis, emptied before each test."""
    client = redis_lib.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
async def aredis(
    redis_server: EmbeddedRedis, redis: redis_lib.Redis
) -> AsyncIterator[aioredis.Redis]:
    """An asyncio client of the session's Redis (emptied first, by `redis`), for store tests."""
    connection = aioredis.Redis.from_url(redis_server.url)
    yield connection
    await connection.aclose()


@pytest.fixture(scope="session")
def api_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    """A real API server on the session's Redis, for the whole session; its bootstrap admin key
    is `ADMIN_KEY`, and the per-key rate limit is off (tests make requests quickly)."""
    settings = Settings(redis_url=redis_server.url, admin_key=ADMIN_KEY, api_rate_limit=0)
    with running_server(settings) as url:
        yield url


@pytest.fixture
def http(api_url: str, redis: redis_lib.Redis) -> Iterator[httpx.Client]:
    """An HTTP client of the session's API server, as admin, with Redis emptied first."""
    with httpx.Client(base_url=api_url, timeout=30, headers=ADMIN_HEADERS) as client:
        yield client


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A folder for an embedded Redis of the test's own."""
    return tmp_path / "data"
