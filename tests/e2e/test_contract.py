"""One contract, two implementations: the real client against a real server, and the fake.

Whatever app code can observe through the client must be the same for both, so that tests
written against the fake hold in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from queue_services import (
    ConflictError,
    JobStatus,
    NotFoundError,
    QueueService,
    UnprocessableEntityError,
)
from queue_services._limits import (
    MAX_BULK_MESSAGES,
    MAX_CAMPAIGN_ID_CHARS,
    MAX_DELAY_MS,
    MAX_IDENTIFIER_CHARS,
    MAX_METADATA_DEPTH,
    MAX_SMS_CHARS,
    MAX_SUBJECT_CHARS,
    MAX_WORKSPACE_RATE_PER_S,
)
from queue_services.testing import FakeQueueService, FakeServer
from queue_services_server.api.schemas import (
    MetricsAnswer,
    ResetAnswer,
    WorkspaceLimitsAnswer,
    WorkspaceMetricsAnswer,
)
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


SMS = {"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "ws-c"}


def sms(queue: QueueService, **changes: Any) -> object:
    """Schedule a valid SMS with `changes` made to its arguments."""
    arguments = {"phone_number": "+14155550123", "message": "Hi", "workspace_id": "ws-c"}
    return queue.schedule_sms(**{**arguments, **changes})


def nested(levels: int) -> dict[str, Any]:
    """A JSON object nested `levels` deep (``{}`` is one level)."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


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
        # The limits the server and the fake share (queue_services._limits):
        (lambda q: sms(q, message="x" * (MAX_SMS_CHARS + 1)), "message"),
        (lambda q: q.schedule_email("a@b.io", "x" * (MAX_SUBJECT_CHARS + 1), text="x",
                                    workspace_id="ws-c"), "subject"),
        (lambda q: sms(q, workspace_id="w" * (MAX_IDENTIFIER_CHARS + 1)), "workspaceId"),
        (lambda q: sms(q, delay=MAX_DELAY_MS + 1), "delay"),
        (lambda q: sms(q, metadata=nested(MAX_METADATA_DEPTH + 1)), "metadata"),
        (lambda q: sms(q, metadata={"campaignId": "c" * (MAX_CAMPAIGN_ID_CHARS + 1)}), "metadata"),
        (lambda q: q.schedule_sms_bulk([SMS] * (MAX_BULK_MESSAGES + 1),
                                       chunk_size=MAX_BULK_MESSAGES + 1), "messages"),
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


def test_cancel_a_campaign_and_jobs_by_id(queue: QueueService) -> None:
    # Given three jobs of ws-k's spring campaign (one cancelled already), one of its summer one,
    # and one of ws-o's spring campaign
    def scheduled(workspace: str, campaign: str) -> str:
        return queue.schedule_sms(
            "+14155550123", "Hi", workspace_id=workspace, delay=timedelta(hours=1),
            metadata={"campaignId": campaign},
        ).job_id  # fmt: skip

    spring = [scheduled("ws-k", "spring") for _ in range(3)]
    summer, theirs = scheduled("ws-k", "summer"), scheduled("ws-o", "spring")
    queue.cancel_job(spring[0])

    # When ws-k's spring campaign is cancelled, then jobs by id
    campaign = queue.cancel_campaign("ws-k", "spring")
    by_id = queue.cancel_jobs([spring[1], summer, "01NOSUCHJOB0000000000000000", summer])

    # Then both count the same way, and only those jobs are CANCELLED
    assert (campaign.cancelled, campaign.already_cancelled, campaign.not_found) == (2, 1, 0)
    assert (by_id.cancelled, by_id.already_cancelled, by_id.not_found) == (1, 1, 1)
    assert by_id.not_cancellable == campaign.not_cancellable == 0
    statuses = {job.job_id: job.status for job in queue.get_jobs([*spring, summer, theirs]).jobs}
    assert statuses == {
        **dict.fromkeys([*spring, summer], JobStatus.CANCELLED),
        theirs: JobStatus.SCHEDULED,
    }


def test_metrics_and_rate_limits(queue: QueueService) -> None:
    queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-m", delay=timedelta(hours=1))
    queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-m")

    metrics = queue.get_metrics()
    limits = queue.get_workspace_rate_limits("ws-m")
    check = queue.check_workspace_rate_limits("ws-m")
    reset = queue.reset_metrics(channel="sms", workspace_id="ws-m")

    assert metrics.sms.queue is not None
    assert metrics.sms.queue.scheduled == 1  # the other is due (or already taken by a worker)
    assert (metrics.sms.total, metrics.email.total, metrics.workspace_rate_limits) == (0, 0, {})
    assert (limits.workspace_id, limits.sms.count, limits.email.details) == ("ws-m", 0, [])
    assert (check.limited, check.last_exceeded) == (False, None)
    assert (reset.success, reset.type, reset.workspace_id) == (True, "sms", "ws-m")
    with pytest.raises(NotFoundError):
        queue.get_workspace_rate_limits("not a workspace")
    with pytest.raises(UnprocessableEntityError):
        queue.reset_metrics(workspace_id="a b")


def test_workspace_limits_are_set_removed_and_read_back(queue: QueueService) -> None:
    queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-t")  # due: its backlog (no worker)

    first = queue.set_workspace_limits("ws-t", sms=10, email=20)
    removed = queue.set_workspace_limits("ws-t", email=None)
    read = queue.get_workspace_limits("ws-t")
    check = queue.check_workspace_rate_limits("ws-t")

    assert (first.sms.limit, first.email.limit) == (10, 20)
    assert (removed.sms.limit, removed.email.limit) == (10, None)
    assert (read.workspace_id, read.sms.limit, read.email.limit) == ("ws-t", 10, None)
    assert (read.sms.channel_limit, read.email.channel_limit) == (50, 100)  # the defaults
    assert (read.sms.used_last_second, read.sms.throttled, read.sms.backlog) == (0, False, 1)
    assert (read.sms.held_until, read.sms.rate_limit_hits.count) == (None, 0)
    assert (check.limited, check.throttled, check.sms.limit, check.sms.backlog) == (
        False,
        False,
        10,
        1,
    )
    with pytest.raises(NotFoundError):
        queue.get_workspace_limits("not a workspace")


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"sms": 0}, "sms"),
        ({"email": MAX_WORKSPACE_RATE_PER_S + 1}, "email"),
        ({"sms": True}, "sms"),
        ({"sms": 2.5}, "sms"),
    ],
)
def test_bad_workspace_limits_name_the_same_field(
    queue: QueueService, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(UnprocessableEntityError) as caught:
        queue.set_workspace_limits("ws-t", **arguments)

    assert caught.value.field == field
    assert queue.get_workspace_limits("ws-t").sms.limit is None
    with pytest.raises(UnprocessableEntityError) as caught:
        queue.set_workspace_limits("a b", sms=5)
    assert caught.value.field == "workspaceId"


def test_the_fakes_metrics_answers_are_in_the_servers_shapes() -> None:
    # Given a fake with finished jobs and rate-limit hits on both channels
    server = FakeServer(now=datetime(2027, 3, 1, 9, 0, 0, 123_000, tzinfo=UTC))
    fake = FakeQueueService(server=server)
    for channel, job in (
        ("sms", fake.schedule_sms("+14155550123", "Hi", workspace_id="ws-s")),
        ("email", fake.schedule_email("a@example.com", "S", text="x", workspace_id="ws-s")),
    ):
        fake.complete(job.job_id)
        fake.record_rate_limit("ws-s", channel, batch_size=3, held_for=timedelta(seconds=2))
    fake.schedule_sms("+14155550123", "Later", workspace_id="ws-s", delay=timedelta(hours=1))

    # Then each answer is what the server's own answer model would write: no field more or less
    for answer_model, (method, path, body) in (
        (MetricsAnswer, ("GET", "/api/metrics", None)),
        (WorkspaceMetricsAnswer, ("GET", "/api/metrics/workspace/ws-s", None)),
        (ResetAnswer, ("POST", "/api/metrics/reset", {"type": "sms"})),
        (ResetAnswer, ("POST", "/api/metrics/reset", {})),
        (WorkspaceLimitsAnswer, ("PUT", "/api/workspaces/ws-s/limits", {"sms": 5})),
        (WorkspaceLimitsAnswer, ("GET", "/api/workspaces/ws-s/limits", None)),
    ):
        status, answer = server.handle(method, path, body, {}, None)
        assert status == 200, answer
        assert answer_model.model_validate(answer).model_dump(mode="json") == answer, path
