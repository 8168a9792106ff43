"""The SDK against a real server: real HTTP to uvicorn on 127.0.0.1, real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib

from queue_services import (
    AsyncQueueService,
    AuthenticationError,
    ConflictError,
    JobStatus,
    NotFoundError,
    QueueService,
    UnprocessableEntityError,
)
from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from queue_services_server.store.keys import KeySpace
from tests.harness import ADMIN_KEY, running_server

KEYS = KeySpace()


@pytest.fixture
def queue(api_url: str, redis: redis_lib.Redis) -> Iterator[QueueService]:
    with QueueService(base_url=api_url, api_key=ADMIN_KEY) as client:
        yield client


@pytest.fixture
async def async_queue(api_url: str, redis: redis_lib.Redis) -> AsyncIterator[AsyncQueueService]:
    async with AsyncQueueService(base_url=api_url, api_key=ADMIN_KEY) as client:
        yield client


def test_schedule_get_and_cancel_an_sms(queue: QueueService) -> None:
    # Given an SMS scheduled an hour from now
    before = datetime.now(UTC)
    result = queue.schedule_sms(
        "+14155550123",
        "Your appointment is tomorrow at 09:30",
        workspace_id="workspace-123",
        contact_id="contact-42",
        delay=timedelta(hours=1),
        metadata={"campaignId": "spring"},
    )
    assert result.success is True
    assert result.status is JobStatus.SCHEDULED

    # When I look it up, it is SCHEDULED for an hour from now
    job = queue.get_job(result.job_id)
    assert job.status is JobStatus.SCHEDULED
    assert before + timedelta(minutes=59) < job.scheduled_for < before + timedelta(minutes=61)
    assert job.workspace_id == "workspace-123"
    assert job.metadata == {"campaignId": "spring"}

    # And when I cancel it, it is CANCELLED
    cancelled = queue.cancel_job(result.job_id)
    assert cancelled.status is JobStatus.CANCELLED
    assert queue.get_job(result.job_id).status is JobStatus.CANCELLED


def test_schedule_email_at_an_absolute_time(queue: QueueService) -> None:
    send_at = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)

    result = queue.schedule_email(
        "jane@example.com",
        "Your invoice",
        "<p>Attached.</p>",
        workspace_id="workspace-123",
        send_at=send_at,
    )

    assert result.scheduled_for == send_at
    assert queue.get_job(result.job_id).payload["subject"] == "Your invoice"


async def test_the_async_client_does_the_same(async_queue: AsyncQueueService) -> None:
    result = await async_queue.schedule_sms(
        "+14155550123", "Code 123456", workspace_id="ws-1", priority="high"
    )

    job = await async_queue.get_job(result.job_id)
    assert job.status is JobStatus.SCHEDULED
    assert (await async_queue.cancel_job(result.job_id)).status is JobStatus.CANCELLED


def test_same_idempotency_key_schedules_once(queue: QueueService, redis: redis_lib.Redis) -> None:
    first = queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-1", idempotency_key="k-1")
    second = queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-1", idempotency_key="k-1")

    assert second.job_id == first.job_id
    assert second.duplicate is True
    assert int(redis.get(KEYS.scheduled_count("sms")) or 0) == 1
    with pytest.raises(ConflictError):
        queue.schedule_sms("+14155550123", "Other", workspace_id="ws-1", idempotency_key="k-1")


def test_server_validation_errors_arrive_typed_with_the_field(queue: QueueService) -> None:
    with pytest.raises(UnprocessableEntityError) as caught:
        queue.schedule_sms("not-a-number", "Hi", workspace_id="ws-1")

    error = caught.value
    assert error.status_code == 422
    assert error.field == "phoneNumber"
    assert "E.164" in error.message
    assert error.request_id


def test_unknown_job_and_late_cancel_are_typed(queue: QueueService, redis: redis_lib.Redis) -> None:
    with pytest.raises(NotFoundError):
        queue.get_job("01NOSUCHJOB0000000000000000")

    result = queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-1")
    record = redis.get(KEYS.job(result.job_id))
    assert record is not None
    # as a worker leaves it once the job has its send slot
    redis.set(KEYS.job(result.job_id), record.replace(b'"SCHEDULED"', b'"PROCESSING"'))
    redis.sadd(KEYS.sending("sms"), result.job_id)
    with pytest.raises(ConflictError):
        queue.cancel_job(result.job_id)


def test_bulk_and_listing_through_the_sdk(queue: QueueService) -> None:
    messages = [
        {"phoneNumber": f"+1415555{index:04d}", "message": "Hi", "workspaceId": "ws-bulk"}
        for index in range(120)
    ]

    result = queue.schedule_sms_bulk(messages)
    page = queue.list_jobs(workspace_id="ws-bulk", limit=100)
    rest = queue.list_jobs(workspace_id="ws-bulk", limit=100, cursor=page.next_cursor)

    assert result.accepted == 120
    assert len(page.jobs) == 100
    assert len(rest.jobs) == 20
    assert rest.next_cursor is None
    assert {job.job_id for job in page.jobs + rest.jobs} == {r.job_id for r in result.results}


def test_the_api_key_is_sent_as_a_bearer_token(redis_server: EmbeddedRedis) -> None:
    settings = Settings(redis_url=redis_server.url, admin_key="e2e-admin-key")
    with running_server(settings) as url:
        with (
            QueueService(base_url=url, api_key="wrong") as queue,
            pytest.raises(AuthenticationError),
        ):
            queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-1")
        with QueueService(base_url=url, api_key="e2e-admin-key") as queue:
            assert queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-1").success


def test_the_client_reads_url_and_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, redis_server: EmbeddedRedis
) -> None:
    settings = Settings(redis_url=redis_server.url, admin_key="env-key")
    with running_server(settings) as url:
        monkeypatch.setenv("QUEUE_SERVICES_URL", url)
        monkeypatch.setenv("QUEUE_SERVICES_API_KEY", "env-key")
        with QueueService() as queue:
            assert queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-1").success
