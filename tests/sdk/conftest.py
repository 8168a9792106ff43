"""Fixtures for the SDK's unit tests: both clients, HTTP mocked with respx, sleeps recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import respx

from queue_services import AsyncQueueService, QueueService

BASE_URL = "http://queue.test"


@dataclass
class Client:
    """One of the two clients, driven the same way from sync tests."""

    flavour: str
    service: QueueService | AsyncQueueService
    sleeps: list[float] = field(default_factory=list)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.service, method)(*args, **kwargs)
        if self.flavour == "async":
            return asyncio.run(result)
        return result


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """A respx router for the test server; every request must match a route."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture(params=["sync", "async"])
def make_client(request: pytest.FixtureRequest) -> Callable[..., Client]:
    """Builds the sync or the async client (each test runs with both), recording its sleeps."""

    def factory(**options: Any) -> Client:
        options.setdefault("base_url", BASE_URL)
        if request.param == "sync":
            client = Client("sync", QueueService(**options))
            client.service._sleep = client.sleeps.append  # type: ignore[method-assign]
        else:
            client = Client("async", AsyncQueueService(**options))

            async def record(seconds: float) -> None:
                client.sleeps.append(seconds)

            client.service._sleep = record  # type: ignore[method-assign]
        return client

    return factory


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    """The client with default options."""
    return make_client()


def error_body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    """An error answer as the server writes it (``{success, error, requestId}``)."""
    error: dict[str, object] = {"code": code, "message": message}
    if field:
        error["field"] = field
        error["errors"] = [{"field": field, "message": message, "type": "value_error"}]
    return {"success": False, "error": error, "requestId": "req-1"}
