"""One contract, two implementations: the real client against a real server, and the fake.

Whatever app code can observe through the client must be the same for both, so that tests
written against the fake hold in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from queue_services import (
    ConflictError,
    JobStatus,
    NotFoundError,
    QueueService,
    UnprocessableEntityError,
)
from queue_services.testing import FakeQueueService
from tests.harness import ADMIN_KEY


@pytest.fixture(params=["real", "fake"])
def queue(request: pytest.FixtureRequest) -> Iterator[QueueService]:
    if request.param == "fake":
        client: QueueService = FakeQueueService()
    else:
        request.getfixturevalue("redis")
        client = QueueService(base_url=request.getfixturevalue("api_url"), api_key=ADMIN_KEY)
    with client:
        yield client


def test_schedule_get_and_cancel(queue: QueueService) -> None:
    result = queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-c", delay=timedelta(hours=1))

    job = queue.get_job(result.job_id)
    cancelled = queue.cancel_job(result.job_id)
    again = queue.cancel_job(result.job_id)

    assert result.status is JobStatus.SCHEDULED
    assert (job.status, job.workspace_id, job.payload["message"]) == (
        JobStatus.SCHEDULED,
        "ws-c",
        "Hi",
    )
    assert timedelta(minutes=59) < job.scheduled_for - job.created_at <= timedelta(hours=1)
    assert cancelled.status is again.status is JobStatus.CANCELLED
    assert queue.get_job(result.job_id).status is JobStatus.CANCELLED


def test_send_at_is_kept_to_the_millisecond(queue: QueueService) -> None:
    send_at = datetime(2027, 2, 1, 8, 30, 0, 250_000, tzinfo=UTC)

    result = queue.schedule_email(
        "jane@example.com", "Hi", text="x", workspace_id="ws-c", send_at=send_at
    )

    assert result.scheduled_for == send_at


def test_idempotency(queue: QueueService) -> None:
    first = queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-c", idempotency_key="k1")
    second = queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-c", idempotency_key="k1")

    assert (second.job_id, second.duplicate) == (first.job_id, True)
    with pytest.raises(ConflictError):
        queue.schedule_sms("+14155550123", "Bye", workspace_id="ws-c", idempotency_key="k1")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda q: q.schedule_sms("12345", "Hi", workspace_id="ws-c"), "phoneNumber"),
        (lambda q: q.schedule_sms("+14155550123", " ", workspace_id="ws-c"), "message"),
        (lambda q: q.schedule_sms("+14155550123", "Hi", workspace_id="a b"), "workspaceId"),
        (lambda q: q.schedule_email("nope", "Hi", "<p>x</p>", workspace_id="ws-c"), "to"),
        (lambda q: q.schedule_email("a@b.io", "Hi\nBcc: x", "<p>x</p>", workspace_id="ws-c"),
         "subject"),
        (lambda q: q.schedule_email("a@example.com", "Hi", workspace_id="ws-c"), "html"),
    ],
)  # fmt: skip
def test_validation_errors_name_the_same_field(
    queue: QueueService, call: object, field: str
) -> None:
    with pytest.raises(UnprocessableEntityError) as caught:
        call(queue)  # type: ignore[operator]

    assert caught.value.field == field


def test_unknown_job(queue: QueueService) -> None:
    with pytest.raises(NotFoundError):
        queue.get_job("01NOSUCHJOB0000000000000000")


def test_bulk_and_listing(queue: QueueService) -> None:
    messages = [
        {"phoneNumber": "+14155550123", "message": f"m{i}", "workspaceId": "ws-l"} for i in range(7)
    ]
    messages.insert(3, {"phoneNumber": "bad", "message": "x", "workspaceId": "ws-l"})

    result = queue.schedule_sms_bulk(messages, chunk_size=3)
    first = queue.list_jobs(workspace_id="ws-l", limit=5)
    rest = queue.list_jobs(workspace_id="ws-l", limit=5, cursor=first.next_cursor)

    assert (result.total, result.accepted, result.rejected) == (8, 7, 1)
    assert result.results[3].error is not None
    assert result.results[3].error.field == "phoneNumber"
    listed = [job.job_id for job in first.jobs + rest.jobs]
    assert len(listed) == 7
    assert rest.next_cursor is None
    assert set(listed) == {r.job_id for r in result.results if r.success}


def test_get_jobs_finds_many_and_lists_the_missing(queue: QueueService) -> None:
    ids = [
        queue.schedule_sms("+14155550123", f"m{i}", workspace_id="ws-g").job_id for i in range(3)
    ]

    batch = queue.get_jobs([ids[2], "01NOSUCHJOB0000000000000000", ids[0]])

    assert [job.job_id for job in batch.jobs] == [ids[2], ids[0]]
    assert batch.missing == ["01NOSUCHJOB0000000000000000"]
