"""The bootstrap admin key (QUEUE_SERVICES_ADMIN_KEY)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis as redis_lib

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from tests.harness import running_server

KEY = "test-admin-key-0123456789"
SMS = {"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "ws-1"}


@pytest.fixture(scope="module")
def keyed_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    with running_server(Settings(redis_url=redis_server.url, admin_key=KEY)) as url:
        yield url


@pytest.fixture
def keyed(keyed_url: str, redis: redis_lib.Redis) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=keyed_url) as client:
        yield client


def test_the_admin_key_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_SERVICES_ADMIN_KEY", KEY)

    settings = Settings()

    assert settings.admin_key is not None
    assert settings.admin_key.get_secret_value() == KEY
    assert KEY not in repr(settings)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong-key",
        f"Basic {KEY}",
        f"Bearer {KEY}x",
        "Bearer \xe9".encode("latin-1"),
    ],
)
def test_api_without_the_right_key_is_401(
    keyed: httpx.Client, redis: redis_lib.Redis, authorization: str | bytes | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = keyed.post("/api/schedule-sms", json=SMS, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert "Authorization: Bearer" in response.json()["error"]["message"]
    assert redis.dbsize() == 0


def test_api_with_the_key_works(keyed: httpx.Client) -> None:
    response = keyed.post("/api/schedule-sms", json=SMS, headers={"Authorization": f"Bearer {KEY}"})

    assert response.status_code == 201


def test_health_and_openapi_need_no_key(keyed: httpx.Client) -> None:
    assert keyed.get("/health").status_code == 200
    assert keyed.get("/ready").status_code == 200
    assert keyed.get("/openapi.json").status_code == 200
