"""The fakes: the same API as the real clients, states moved on demand, assertions, the fixture,
and the HTTP-level mock."""

from __future__ import annotations

import asyncio
import inspect
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from queue_services import (
    AsyncQueueService,
    AsyncQueueServiceProtocol,
    BulkCancelResult,
    ConflictError,
    EmailMessage,
    JobStatus,
    NotFoundError,
    QueueService,
    QueueServiceProtocol,
    RateLimitCheck,
    SmsMessage,
    UnprocessableEntityError,
)
from queue_services._client import PUBLIC_METHODS
from queue_services._limits import MAX_CANCEL_IDS
from queue_services.testing import (
    AsyncFakeQueueService,
    FakeQueueService,
    FakeServer,
    mock_queue_service_api,
)

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


@pytest.mark.parametrize("fake_class", [FakeQueueService, AsyncFakeQueueService])
def test_the_fakes_serve_every_public_method(
    fake_class: type[FakeQueueService | AsyncFakeQueueService],
) -> None:
    fake = fake_class(now=NOW)
    called: set[str] = set()

    def call(name: str, *args: Any, **kwargs: Any) -> Any:
        called.add(name)
        result = getattr(fake, name)(*args, **kwargs)
        return asyncio.run(result) if inspect.isawaitable(result) else result

    # Given a job of each kind, finished or not, and a rate-limit hit
    sms = call("schedule_sms", "+14155550123", "Hi", workspace_id="ws-1")
    email = call("schedule_email", "jane@example.com", "Hi", text="x", workspace_id="ws-1")
    sms_item = SmsMessage(
        phone_number="+14155550100", message="A", workspace_id="ws-2",
        metadata={"campaignId": "spring"},
    )  # fmt: skip
    email_item = EmailMessage(to="a@example.com", subject="S", text="x", workspace_id="ws-2")
    bulk = call("schedule_sms_bulk", [sms_item])
    email_bulk = call("schedule_email_bulk", [email_item])
    fake.complete(sms.job_id)
    fake.record_rate_limit("ws-1", "email")

    # When every other public method is called, Then each answers
    assert call("get_job", sms.job_id).status is JobStatus.COMPLETED
    assert call("get_jobs", [email.job_id, "nope"]).missing == ["nope"]
    assert call("cancel_job", email.job_id).status is JobStatus.CANCELLED
    cancelled = call("cancel_jobs", [email.job_id, sms.job_id, "nope"])
    assert _counts(cancelled) == (0, 1, 1, 1)
    assert call("cancel_campaign", "ws-2", "spring").cancelled == 1
    assert len(call("list_jobs", workspace_id="ws-2").jobs) == 2
    assert (bulk.accepted, email_bulk.accepted) == (1, 1)
    assert call("get_metrics").sms.success == 1
    assert call("get_workspace_rate_limits", "ws-1").email.count == 1
    assert call("check_workspace_rate_limits", "ws-1").limited is True
    assert call("set_workspace_limits", "ws-1", sms=5).sms.limit == 5
    assert call("get_workspace_limits", "ws-1").sms.used_last_second == 1
    assert call("reset_metrics", channel="email", workspace_id="ws-1").workspace_id == "ws-1"
    assert call("with_options", max_retries=1).server is fake.server
    call("close")
    assert called == set(PUBLIC_METHODS)


def test_metrics_count_what_the_test_finished_per_channel_and_workspace() -> None:
    fake = FakeQueueService(now=NOW)
    ids = [
        fake.schedule_sms("+14155550123", "Hi", workspace_id=workspace).job_id
        for workspace in ("ws-1", "ws-1", "ws-2")
    ]
    later = fake.schedule_email(
        "jane@example.com", "Hi", text="x", workspace_id="ws-1", delay=timedelta(hours=1)
    )

    fake.complete(ids[0])
    fake.fail(ids[1], "invalid number")
    fake.complete(ids[0])  # already finished: not counted twice
    metrics = fake.get_metrics()

    assert (metrics.sms.total, metrics.sms.success, metrics.sms.failed) == (2, 1, 1)
    assert (metrics.sms.total_processed, metrics.sms.batches_processed) == (2, 2)
    assert metrics.sms.success_rate == 50.0
    assert metrics.sms.throughput == round(2 / 60, 2)
    assert metrics.sms.last_processed_time == NOW
    assert metrics.sms.workspaces["ws-1"].model_dump() == {
        "total": 2, "success": 1, "failed": 1, "rate_limited": 0,
    }  # fmt: skip
    assert "ws-2" not in metrics.sms.workspaces  # nothing of it finished yet
    assert metrics.sms.queue is not None
    assert metrics.email.queue is not None
    assert (metrics.sms.queue.due, metrics.sms.queue.scheduled) == (1, 0)
    assert (metrics.email.queue.due, metrics.email.queue.scheduled) == (0, 1)
    assert metrics.email.total == 0
    assert metrics.timestamp == NOW
    assert fake.get_job(later.job_id).status is JobStatus.SCHEDULED


def test_rate_limit_hits_are_none_until_recorded_and_go_with_a_reset() -> None:
    fake = FakeQueueService(now=NOW)
    assert fake.check_workspace_rate_limits("ws-1").limited is False
    assert fake.get_metrics().workspace_rate_limits == {}

    # Given two hits on ws-1's SMS, a minute apart, and one on ws-2's
    fake.record_rate_limit("ws-1", "sms", error_message="429 from Twilio", batch_size=20)
    fake.advance(timedelta(minutes=1))
    fake.record_rate_limit("ws-1", "sms")
    fake.record_rate_limit("ws-2", "email")

    limits = fake.get_workspace_rate_limits("ws-1")
    check = fake.check_workspace_rate_limits("ws-1")
    metrics = fake.get_metrics()
    assert (limits.sms.count, limits.email.count) == (2, 0)
    assert limits.sms.last_exceeded == NOW + timedelta(minutes=1)
    assert [hit.timestamp for hit in limits.sms.details] == [NOW + timedelta(minutes=1), NOW]
    assert (limits.sms.details[1].batch_size, limits.sms.details[1].error_message) == (
        20,
        "429 from Twilio",
    )
    assert (check.limited, check.sms_count, check.last_exceeded) == (
        True,
        2,
        NOW + timedelta(minutes=1),
    )
    assert metrics.sms.rate_limited == metrics.sms.rate_exceeded_count == 2
    assert metrics.sms.workspaces["ws-1"].rate_limited == 2
    assert metrics.workspace_rate_limits["ws-1"]["sms"].count == 2
    assert set(metrics.workspace_rate_limits["ws-2"]) == {"email"}

    # When ws-1 is reset, Then its hits and counts go, the channel's totals and ws-2's stay
    reset = fake.reset_metrics(workspace_id="ws-1")
    metrics = fake.get_metrics()
    assert (reset.type, reset.workspace_id) == (None, "ws-1")
    assert fake.check_workspace_rate_limits("ws-1").limited is False
    assert "ws-1" not in metrics.sms.workspaces
    assert metrics.sms.rate_limited == 2
    assert set(metrics.workspace_rate_limits) == {"ws-2"}

    # When everything is reset, Then nothing is left
    fake.reset_metrics()
    assert fake.get_metrics().email.rate_limited == 0
    assert fake.server.rate_limit_hits == []


def test_the_fake_refuses_what_the_server_refuses_on_the_metrics_routes() -> None:
    fake = FakeQueueService()

    with pytest.raises(NotFoundError):
        fake.get_workspace_rate_limits("not a workspace")
    with pytest.raises(UnprocessableEntityError) as caught:
        fake.reset_metrics(workspace_id="a b")
    assert caught.value.field == "workspaceId"
    with pytest.raises(ValueError, match="channel"):
        fake.record_rate_limit("ws-1", "fax")


def test_routes_the_fake_does_not_serve_say_so() -> None:
    status, body = FakeServer().handle("GET", "/api/outbox", None, {}, None)

    assert status == 404
    assert body["error"]["message"] == "the fake does not serve GET /api/outbox"


def test_workspace_limits_are_kept_and_read_back_with_the_workspaces_usage() -> None:
    # Given a fake where ws-1 sent two SMS just now and has three due, one due later
    fake = FakeQueueService(now=NOW)
    ids = [fake.schedule_sms("+14155550123", f"m{n}", workspace_id="ws-1").job_id for n in range(5)]
    fake.schedule_sms("+14155550123", "later", workspace_id="ws-1", delay=timedelta(hours=1))
    fake.complete(ids[0])
    fake.fail(ids[1], "invalid number")

    # When its SMS are limited to 2/s
    set_answer = fake.set_workspace_limits("ws-1", sms=2)
    read = fake.get_workspace_limits("ws-1")

    # Then the limit is kept, and the figures are counted as the server counts them
    assert set_answer == read
    assert (read.sms.limit, read.sms.channel_limit) == (2, 50)
    assert (read.sms.used_last_second, read.sms.backlog, read.sms.throttled) == (2, 3, True)
    assert (read.email.limit, read.email.channel_limit, read.email.throttled) == (None, 100, False)
    assert read.timestamp == NOW
    # And a second later nothing counts: no longer throttled
    fake.advance(timedelta(seconds=1))
    assert fake.get_workspace_limits("ws-1").sms.model_dump(
        include={"used_last_second", "throttled"}
    ) == {
        "used_last_second": 0,
        "throttled": False,
    }
    # And None removes the limit, a channel left out keeps its own
    fake.set_workspace_limits("ws-1", email=20)
    after = fake.set_workspace_limits("ws-1", sms=None)
    assert (after.sms.limit, after.email.limit) == (None, 20)
    assert fake.server.workspace_limits == {"ws-1": {"email": 20}}


def test_a_recorded_hold_throttles_the_workspace_until_it_ends() -> None:
    fake = FakeQueueService(now=NOW)

    fake.record_rate_limit("ws-1", "sms", held_for=timedelta(seconds=30))
    check = fake.check_workspace_rate_limits("ws-1")

    assert (check.throttled, check.sms.throttled, check.email.throttled) == (True, True, False)
    assert check.sms.held_until == NOW + timedelta(seconds=30)
    assert (check.limited, check.sms_count, check.sms.rate_limit_hits.count) == (True, 1, 1)
    fake.advance(timedelta(seconds=31))
    assert fake.check_workspace_rate_limits("ws-1").throttled is False


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"sms": 0}, "sms"),
        ({"email": 100_001}, "email"),
        ({"sms": True}, "sms"),
        ({"sms": "10"}, "sms"),
    ],
)
def test_the_fake_refuses_the_limits_the_server_refuses(
    arguments: dict[str, Any], field: str
) -> None:
    fake = FakeQueueService()
    fake.set_workspace_limits("ws-1", sms=3)

    with pytest.raises(UnprocessableEntityError) as caught:
        fake.set_workspace_limits("ws-1", **arguments)

    assert caught.value.field == field
    assert fake.server.workspace_limits == {"ws-1": {"sms": 3}}


def test_a_hand_built_rate_limit_check_keeps_working_without_the_new_figures() -> None:
    # App tests build RateLimitCheck themselves (for a mock): the old fields are still enough
    check = RateLimitCheck(workspace_id="ws-1", limited=False, sms_count=0, email_count=0)

    assert (check.throttled, check.sms.limit, check.sms.backlog) == (False, None, 0)


# ---- bulk and campaign cancel -------------------------------------------------------------------


def _counts(result: BulkCancelResult) -> tuple[int, int, int, int]:
    return (result.cancelled, result.already_cancelled, result.not_cancellable, result.not_found)


def _schedule_over_http(server: FakeServer, **fields: Any) -> str:
    body = {"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "ws-1", **fields}
    status, answer = server.handle("POST", "/api/schedule-sms", body, {}, None)
    assert status == 201
    job_id: str = answer["jobId"]
    return job_id


def test_cancel_jobs_cancels_what_is_scheduled_and_counts_the_rest_by_why() -> None:
    # Given jobs in every state, in two workspaces
    fake = FakeQueueService(now=NOW)
    ids = [
        fake.schedule_sms("+14155550123", f"m{n}", workspace_id=workspace).job_id
        for n, workspace in enumerate(["ws-1", "ws-1", "ws-2", "ws-1", "ws-1", "ws-1"])
    ]
    waiting, other_workspace, sent, failed, cancelled, untouched = (
        ids[0], ids[2], ids[3], ids[4], ids[5], ids[1]
    )  # fmt: skip
    fake.complete(sent)
    fake.fail(failed)
    fake.cancel_job(cancelled)

    # When they are cancelled by id, with an unknown id and a repeat
    result = fake.cancel_jobs([waiting, other_workspace, sent, failed, cancelled, "nope", waiting])

    # Then the scheduled ones are cancelled (the fake checks no keys: ws-2's too), each id once
    assert _counts(result) == (2, 1, 2, 1)
    assert result.success is True
    statuses = {job_id: fake.get_job(job_id).status for job_id in ids}
    assert statuses == {
        waiting: JobStatus.CANCELLED,
        other_workspace: JobStatus.CANCELLED,
        sent: JobStatus.COMPLETED,
        failed: JobStatus.FAILED,
        cancelled: JobStatus.CANCELLED,
        untouched: JobStatus.SCHEDULED,
    }
    # And a cancelled job is never sent
    assert [job.job_id for job in fake.run_due()] == [untouched]
    # And cancelling again counts them as cancelled before
    assert _counts(fake.cancel_jobs([waiting, other_workspace])) == (0, 2, 0, 0)


def test_cancel_campaign_cancels_only_that_workspaces_jobs_of_that_campaign() -> None:
    # Given spring jobs of ws-1 (one sent, one cancelled), ws-2's spring job, ws-1's other jobs
    fake = FakeQueueService(now=NOW)
    spring = {"campaignId": "spring"}

    def sms(workspace: str, metadata: dict[str, Any] | None) -> str:
        return fake.schedule_sms(
            "+14155550123", "Hi", workspace_id=workspace, metadata=metadata,
            delay=timedelta(hours=1),
        ).job_id  # fmt: skip

    ours = [sms("ws-1", spring) for _ in range(3)]
    sent, cancelled = sms("ws-1", spring), sms("ws-1", spring)
    fake.complete(sent)
    fake.cancel_job(cancelled)
    email = fake.schedule_email(
        "jane@example.com", "Hi", text="x", workspace_id="ws-1", metadata=spring
    ).job_id
    theirs = sms("ws-2", spring)
    others = [sms("ws-1", {"campaignId": "summer"}), sms("ws-1", None), sms("ws-1", {"c": 1})]

    # When ws-1's spring campaign is cancelled
    result = fake.cancel_campaign("ws-1", "spring")

    # Then every one of its jobs not yet sent is cancelled, on both channels, and nothing else
    assert _counts(result) == (4, 1, 1, 0)
    for job_id in [*ours, email]:
        assert fake.get_job(job_id).status is JobStatus.CANCELLED
    for job_id in [theirs, *others]:
        assert fake.get_job(job_id).status is JobStatus.SCHEDULED
    fake.advance(timedelta(hours=2))
    assert sorted(job.job_id for job in fake.run_due()) == sorted([theirs, *others])
    # And a campaign with no jobs, or a workspace with none, cancels nothing
    assert _counts(fake.cancel_campaign("ws-1", "autumn")) == (0, 0, 0, 0)
    assert _counts(fake.cancel_campaign("ws-9", "spring")) == (0, 0, 0, 0)


async def test_the_async_fake_cancels_a_campaign() -> None:
    fake = AsyncFakeQueueService(now=NOW)
    job = await fake.schedule_sms(
        "+14155550123", "Hi", workspace_id="ws-1", metadata={"campaignId": "spring"}
    )

    result = await fake.cancel_campaign("ws-1", "spring")

    assert result.cancelled == 1
    assert (await fake.get_job(job.job_id)).status is JobStatus.CANCELLED
    assert (await fake.cancel_jobs([job.job_id])).already_cancelled == 1


def test_the_fake_takes_the_chunks_cancel_jobs_sends() -> None:
    fake = FakeQueueService(now=NOW)
    job = fake.schedule_sms("+14155550123", "Hi", workspace_id="ws-1")

    result = fake.cancel_jobs([*(f"nope-{n}" for n in range(MAX_CANCEL_IDS)), job.job_id])

    assert _counts(result) == (1, 0, 0, MAX_CANCEL_IDS)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"jobIds": []}, "jobIds"),
        ({"jobIds": ["x"] * (MAX_CANCEL_IDS + 1)}, "jobIds"),
        ({"jobIds": [""]}, "jobIds"),
        ({"jobIds": ["x" * 65]}, "jobIds"),
        ({"jobIds": "01JOB"}, "jobIds"),
        ({"jobIds": ["01JOB"], "workspaceId": "ws-1", "campaignId": "spring"}, "jobIds"),
        ({"workspaceId": "ws-1"}, "campaignId"),
        ({"workspaceId": "ws-1", "campaignId": ""}, "campaignId"),
        ({"campaignId": "spring"}, "workspaceId"),
        ({"workspaceId": "a b", "campaignId": "spring"}, "workspaceId"),
        ({"workspaceId": "ws-1", "campaignId": "spring", "status": "SCHEDULED"}, "status"),
        ({}, "workspaceId"),
    ],
)
def test_the_fake_refuses_the_cancel_bodies_the_server_refuses(
    body: dict[str, Any], field: str
) -> None:
    server = FakeServer(now=NOW)
    _schedule_over_http(server, metadata={"campaignId": "spring"})

    status, answer = server.handle("POST", "/api/jobs/cancel", body, {}, None)

    assert (status, answer["error"]["field"]) == (422, field)
    assert [job.status for job in server.jobs.values()] == [JobStatus.SCHEDULED]


def test_the_fake_counts_an_id_sent_twice_once_as_the_server_does() -> None:
    # (The SDK sends each id once; code calling the HTTP API may not.)
    server = FakeServer(now=NOW)
    job_id = _schedule_over_http(server)

    status, answer = server.handle(
        "POST", "/api/jobs/cancel", {"jobIds": [job_id, "nope", job_id, "nope"]}, {}, None
    )

    assert (status, answer["cancelled"], answer["alreadyCancelled"], answer["notFound"]) == (
        200, 1, 0, 1,
    )  # fmt: skip


def test_the_http_level_mock_serves_a_campaign_cancel() -> None:
    with mock_queue_service_api("http://queue.test") as server:
        httpx.post(
            "http://queue.test/api/schedule-sms",
            json={"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "ws-1",
                  "metadata": {"campaignId": "spring"}},
        )  # fmt: skip
        answer = httpx.post(
            "http://queue.test/api/jobs/cancel",
            json={"workspaceId": "ws-1", "campaignId": "spring"},
        )

    assert answer.status_code == 200
    assert answer.json() == {
        "success": True, "cancelled": 1, "alreadyCancelled": 0, "notCancellable": 0,
        "notFound": 0,
    }  # fmt: skip
    assert [job.status for job in server.jobs.values()] == [JobStatus.CANCELLED]
