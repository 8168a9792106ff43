"""The pytest plugin of queue-services (registered by entry point): fixtures with a fake client.

def test_signup_sends_a_code(fake_queue_service):
    signup(fake_queue_service, "+14155550123")
    fake_queue_service.assert_sms_scheduled(to="+14155550123", contains="code")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from queue_services.testing import AsyncFakeQueueService, FakeQueueService


@pytest.fixture
def fake_queue_service() -> Iterator[FakeQueueService]:
    """A `FakeQueueService` with an empty in-memory server, closed after the test."""
    fake = FakeQueueService()
    yield fake
    fake.close()


@pytest.fixture
async def async_fake_queue_service() -> AsyncIterator[AsyncFakeQueueService]:
    """An `AsyncFakeQueueService` with an empty in-memory server, closed after the test."""
    fake = AsyncFakeQueueService()
    yield fake
    await fake.close()
