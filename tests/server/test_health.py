"""/health, /ready and behaviour while Redis is away."""

from __future__ import annotations

import httpx

from queue_services_server.dev import free_port
from queue_services_server.settings import Settings
from tests.harness import ADMIN_HEADERS, ADMIN_KEY, running_server


def test_health_and_ready_with_redis_up(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "ok"}
    assert http.get("/ready").json() == {"status": "ready", "redis": "ok"}


def test_without_redis_the_api_answers_503_not_500_and_not_a_hang() -> None:
    # Given a server whose Redis is not there (a port nothing listens on)
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", admin_key=ADMIN_KEY)
    with (
        running_server(settings) as url,
        httpx.Client(base_url=url, timeout=15, headers=ADMIN_HEADERS) as http,
    ):
        # Then liveness holds, readiness fails, and the API asks clients to retry
        assert http.get("/health").status_code == 200
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        response = http.post(
            "/api/schedule-sms",
            json={"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "ws-1"},
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"]["code"] == "redis_unavailable"
        assert http.get("/api/jobs/01ANYTHING000000000000000").status_code == 503
