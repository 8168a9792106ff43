"""The fakes: the same API as the real clients, states moved on demand, assertions, the fixture,
and the HTTP-level mock."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from queue_services import (
    AsyncQueueService,
    AsyncQueueServiceProtocol,
    ConflictError,
    JobStatus,
    NotFoundError,
    QueueService,
    QueueServiceProtocol,
    UnprocessableEntityError,
)
from queue_services.testing import AsyncFakeQueueService, FakeQueueService, mock_queue_service_api

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def test_fakes_have_the_clients_public_methods_and_protocols() -> None:
    for fake, real in (
        (FakeQueueService, QueueService),
        (AsyncFakeQueueService, AsyncQueueService),
    ):
        for name, member in inspect.getmembers(real):
            if not name.startswith("_") and callable(member):
                assert inspect.signature(getattr(fake, name)) == inspect.signature(member), name
    assert isinstance(FakeQueueService(), QueueServiceProtocol)
    assert isinstance(AsyncFakeQueueService(), AsyncQueueServiceProtocol)


def test_jobs_move_through_states_on_demand() -> None:
    fake = FakeQueueService(now=NOW)
    soon = fake.schedule_sms(
        "+14155550123", "Code 1", workspace_id="ws-1", delay=timedelta(minutes=5)
    )
    later = fake.schedule_sms(
        "+14155550123", "Code 2", workspace_id="ws-1", delay=timedelta(hours=2)
    )

    fake.advance(timedelta(minutes=10))
    done = fake.run_due()
    failed = fake.fail(later.job_id, "invalid number")

    assert [job.job_id for job in done] == [soon.job_id]
    assert fake.get_job(soon.job_id).status is JobStatus.COMPLETED
    assert (failed.status, failed.last_error) == (JobStatus.FAILED, "invalid number")
    assert soon.scheduled_for == NOW + timedelta(minutes=5)


def test_assertions_say_what_was_scheduled() -> None:
    fake = FakeQueueService()
    fake.schedule_sms("+14155550123", "Your appointment is at 09:30", workspace_id="ws-1")
    fake.schedule_email("jane@example.com", "Invoice 42", text="Attached", workspace_id="ws-1")

    fake.assert_sms_scheduled(to="+14155550123", contains="09:30", count=1)
    fake.assert_email_scheduled(subject_contains="Invoice")
    with pytest.raises(AssertionError, match="no SMS"):
        fake.assert_sms_scheduled(to="+10000000000")


def test_errors_are_the_real_exception_classes() -> None:
    fake = FakeQueueService()
    fake.schedule_sms("+14155550123", "Hi", workspace_id="ws-1", idempotency_key="k")

    with pytest.raises(UnprocessableEntityError) as caught:
        fake.schedule_sms("0412 345", "Hi", workspace_id="ws-1")
    assert caught.value.field == "phoneNumber"
    with pytest.raises(ConflictError):
        fake.schedule_sms("+14155550123", "Other", workspace_id="ws-1", idempotency_key="k")
    with pytest.raises(NotFoundError):
        fake.get_job("nope")


def test_the_fixture_is_registered(fake_queue_service: FakeQueueService) -> None:
    fake_queue_service.schedule_sms("+14155550123", "Hi", workspace_id="ws-1")

    fake_queue_service.assert_sms_scheduled(count=1)


async def test_the_async_fixture(async_fake_queue_service: AsyncFakeQueueService) -> None:
    result = await async_fake_queue_service.schedule_sms("+14155550123", "Hi", workspace_id="ws-1")

    assert (await async_fake_queue_service.get_job(result.job_id)).status is JobStatus.SCHEDULED


def test_the_http_level_mock_serves_plain_httpx_code() -> None:
    with mock_queue_service_api("http://queue.test") as server:
        answer = httpx.post(
            "http://queue.test/api/schedule-sms",
            json={"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "ws-1"},
        )
        bad = httpx.post("http://queue.test/api/schedule-sms", json={"message": "Hi"})

    assert answer.status_code == 201
    assert answer.json()["success"] is True
    assert bad.status_code == 422
    server.assert_sms_scheduled(to="+14155550123", count=1)
