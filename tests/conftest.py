"""Shared fixtures: a real throwaway redis-server, a real uvicorn server, a clean environment."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis as redis_lib
import redis.asyncio as aioredis
import uvicorn

from queue_services_server.api.app import create_app
from queue_services_server.dev import EmbeddedRedis, free_port
from queue_services_server.settings import Settings

#: The bootstrap admin key of the session's API server (`api_url`), sent by the `http` client.
ADMIN_KEY = "test-admin-key"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _product_variables() -> set[str]:
    names = {field.upper() for field in Settings.model_fields}
    for field in Settings.model_fields.values():
        names.update(
            str(choice).upper() for choice in getattr(field.validation_alias, "choices", [])
        )
    return names


#: Environment variables the product reads; cleared around every test so the developer's own
#: shell cannot change what a test sees.
PRODUCT_VARIABLES = _product_variables()


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


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """Serve `create_app(settings)` with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


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
