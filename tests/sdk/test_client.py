"""Both clients against a mocked server: requests, retries, idempotency keys, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
import respx

from queue_services import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidSendTimeError,
    JobStatus,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SmsMessage,
    UnprocessableEntityError,
)
from tests.sdk.conftest import Client, error_body

SCHEDULED = {
    "success": True,
    "jobId": "01JOB",
    "status": "SCHEDULED",
    "channel": "sms",
    "workspaceId": "ws-1",
    "scheduledFor": "2026-11-24T10:15:30.123Z",
    "duplicate": False,
}
JOB = {
    "jobId": "01JOB",
    "channel": "sms",
    "status": "SCHEDULED",
    "workspaceId": "ws-1",
    "contactId": None,
    "priority": "normal",
    "scheduledFor": "2026-11-24T10:15:30.123Z",
    "createdAt": "2026-11-24T10:15:00.000Z",
    "updatedAt": "2026-11-24T10:15:00.000Z",
    "attempts": 0,
    "lastError": None,
    "sentAt": None,
    "providerMessageId": None,
    "payload": {"phoneNumber": "+14155550123", "message": "Hi"},
    "metadata": {},
}


def sent_json(route: respx.Route, index: int = -1) -> object:
    return json.loads(route.calls[index].request.content)


# ---- what is sent ---------------------------------------------------------------------------


def test_schedule_sms_sends_the_seed_body(client: Client, api: respx.MockRouter) -> None:
    route = api.post("/api/schedule-sms").respond(201, json=SCHEDULED)

    result = client.call(
        "schedule_sms",
        "+14155550123",
        "Hi",
        workspace_id="ws-1",
        contact_id="c-1",
        delay=timedelta(seconds=90),
        priority="high",
        metadata={"campaignId": "x"},
    )

    assert sent_json(route) == {
        "phoneNumber": "+14155550123",
        "message": "Hi",
        "workspaceId": "ws-1",
        "contactId": "c-1",
        "delay": 90_000,
        "priority": "high",
        "metadata": {"campaignId": "x"},
    }
    assert result.job_id == "01JOB"
    assert result.status is JobStatus.SCHEDULED
    assert result.scheduled_for == datetime(2026, 11, 24, 10, 15, 30, 123000, tzinfo=UTC)


def test_schedule_email_with_send_at(client: Client, api: respx.MockRouter) -> None:
    route = api.post("/api/schedule-email").respond(201, json={**SCHEDULED, "channel": "email"})
    paris = timezone(timedelta(hours=1))

    client.call(
        "schedule_email",
        "jane@example.com",
        "Subject",
        "<p>Hi</p>",
        text="Hi",
        workspace_id="ws-1",
        send_at=datetime(2027, 1, 15, 9, 30, tzinfo=paris),
    )

    assert sent_json(route) == {
        "to": "jane@example.com",
        "subject": "Subject",
        "html": "<p>Hi</p>",
        "text": "Hi",
        "workspaceId": "ws-1",
        "sendAt": "2027-01-15T09:30:00+01:00",
    }


def test_the_api_key_and_user_agent_are_sent(
    make_client: Callable[..., Client], api: respx.MockRouter
) -> None:
    route = api.get("/api/jobs/01JOB").respond(200, json=JOB)

    make_client(api_key="secret-key").call("get_job", "01JOB")

    headers = route.calls[0].request.headers
    assert headers["Authorization"] == "Bearer secret-key"
    assert headers["User-Agent"].startswith("queue-services-python/")
    assert "Idempotency-Key" not in headers  # only POSTs carry one


def test_job_ids_are_quoted_in_paths(client: Client, api: respx.MockRouter) -> None:
    route = api.delete("/api/jobs/a%2Fb%3Fc").respond(
        200, json={"success": True, "jobId": "a/b?c", "status": "CANCELLED"}
    )

    client.call("cancel_job", "a/b?c")

    assert route.called


def test_list_jobs_sends_the_filters(client: Client, api: respx.MockRouter) -> None:
    route = api.get("/api/jobs").respond(200, json={"jobs": [JOB], "nextCursor": "c2"})

    page = client.call(
        "list_jobs", workspace_id="ws-1", status="FAILED", channel="sms", limit=10, cursor="c1"
    )

    assert dict(route.calls[0].request.url.params) == {
        "workspaceId": "ws-1",
        "status": "FAILED",
        "channel": "sms",
        "limit": "10",
        "cursor": "c1",
    }
    assert page.jobs[0].payload["phoneNumber"] == "+14155550123"
    assert page.next_cursor == "c2"


def test_bulk_accepts_models_and_dicts(client: Client, api: respx.MockRouter) -> None:
    answer = {"success": True, "total": 2, "accepted": 2, "rejected": 0, "results": []}
    route = api.post("/api/schedule-sms/bulk").respond(200, json=answer)

    client.call(
        "schedule_sms_bulk",
        [
            SmsMessage(phone_number="+14155550100", message="A", workspace_id="ws-1", delay=5),
            {"phoneNumber": "+14155550101", "message": "B", "workspaceId": "ws-1"},
        ],
    )

    assert sent_json(route) == {
        "messages": [
            {"phoneNumber": "+14155550100", "message": "A", "workspaceId": "ws-1", "delay": 5},
            {"phoneNumber": "+14155550101", "message": "B", "workspaceId": "ws-1"},
        ]
    }


def test_responses_tolerate_fields_added_by_newer_servers(
    client: Client, api: respx.MockRouter
) -> None:
    api.get("/api/jobs/01JOB").respond(200, json={**JOB, "timeline": [], "newField": 1})

    job = client.call("get_job", "01JOB")

    assert job.job_id == "01JOB"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"delay": -1}, "negative"),
        ({"delay": timedelta(seconds=-1)}, "negative"),
        ({"delay": 1.5}, "int"),
        ({"delay": True}, "int"),
        ({"send_at": datetime(2027, 1, 1, 9, 0)}, "timezone-aware"),
        ({"delay": 5, "send_at": datetime(2027, 1, 1, tzinfo=UTC)}, "not both"),
    ],
)
def test_bad_send_times_fail_before_any_request(
    client: Client, api: respx.MockRouter, changes: dict[str, object], message: str
) -> None:
    route = api.post("/api/schedule-sms")

    with pytest.raises(InvalidSendTimeError, match=message) as caught:
        client.call("schedule_sms", "+14155550123", "Hi", workspace_id="ws-1", **changes)

    assert isinstance(caught.value, ValueError)
    assert not route.called


# ---- retries and the idempotency key --------------------------------------------------------


def test_a_retry_reuses_the_idempotency_key(client: Client, api: respx.MockRouter) -> None:
    route = api.post("/api/schedule-sms").mock(
        side_effect=[
            httpx.Response(503, json=error_body("redis_unavailable", "Redis is unavailable")),
            httpx.ConnectError("reset"),
            httpx.Response(201, json=SCHEDULED),
        ]
    )

    result = client.call("schedule_sms", "+14155550123", "Hi", workspace_id="ws-1")

    keys = [call.request.headers["Idempotency-Key"] for call in route.calls]
    assert result.job_id == "01JOB"
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert keys[0].startswith("qs-")


def test_two_calls_get_two_keys_and_a_given_key_is_used(
    client: Client, api: respx.MockRouter
) -> None:
    route = api.post("/api/schedule-sms").respond(201, json=SCHEDULED)

    client.call("schedule_sms", "+14155550123", "Hi", workspace_id="ws-1")
    client.call("schedule_sms", "+14155550123", "Hi", workspace_id="ws-1")
    client.call("schedule_sms", "+14155550123", "Hi", workspace_id="ws-1", idempotency_key="k")

    keys = [call.request.headers["Idempotency-Key"] for call in route.calls]
    assert keys[0] != keys[1]
    assert keys[2] == "k"


def test_retry_after_is_honoured(client: Client, api: respx.MockRouter) -> None:
    api.post("/api/schedule-sms").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "2"}, json=error_body("rate", "slow")),
            httpx.Response(201, json=SCHEDULED),
        ]
    )

    client.call("schedule_sms", "+14155550123", "Hi", workspace_id="ws-1")

    assert client.sleeps == [2.0]


def test_backoff_grows_without_retry_after(
    make_client: Callable[..., Client], api: respx.MockRouter
) -> None:
    client = make_client(max_retries=3)
    api.get("/api/jobs/01JOB").mock(
        side_effect=[httpx.Response(500)] * 3 + [httpx.Response(200, json=JOB)]
    )

    client.call("get_job", "01JOB")

    assert len(client.sleeps) == 3
    assert 0.25 <= client.sleeps[0] <= 0.5
    assert 0.5 <= client.sleeps[1] <= 1.0
    assert 1.0 <= client.sleeps[2] <= 2.0


def test_a_long_retry_after_is_handed_to_the_caller(client: Client, api: respx.MockRouter) -> None:
    route = api.post("/api/schedule-sms").respond(
        429, headers={"Retry-After": "3600"}, json=error_body("rate_limited", "Too many")
    )

    with pytest.raises(RateLimitError) as caught:
        client.call("schedule_sms", "+14155550123", "Hi", workspace_id="ws-1")

    assert caught.value.retry_after == 3600
    assert route.call_count == 1
    assert client.sleeps == []


def test_retries_stop_after_max_retries(
    make_client: Callable[..., Client], api: respx.MockRouter
) -> None:
    client = make_client(max_retries=2)
    route = api.get("/api/jobs/01JOB").respond(503, json=error_body("redis_unavailable", "away"))

    with pytest.raises(InternalServerError) as caught:
        client.call("get_job", "01JOB")

    assert route.call_count == 3
    assert caught.value.status_code == 503
    assert caught.value.message == "away"


def test_max_retries_zero_means_one_attempt(
    make_client: Callable[..., Client], api: respx.MockRouter
) -> None:
    client = make_client(max_retries=0)
    route = api.get("/api/jobs/01JOB").mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(APIConnectionError):
        client.call("get_job", "01JOB")

    assert route.call_count == 1


def test_timeouts_are_retried_then_raised_as_timeout_errors(
    client: Client, api: respx.MockRouter
) -> None:
    route = api.get("/api/jobs/01JOB").mock(side_effect=httpx.ReadTimeout("slow"))

    with pytest.raises(APITimeoutError) as caught:
        client.call("get_job", "01JOB")

    assert route.call_count == 3
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


@pytest.mark.parametrize(
    ("status", "error_class", "code"),
    [
        (400, BadRequestError, "invalid_json"),
        (401, AuthenticationError, "unauthorized"),
        (404, NotFoundError, "not_found"),
        (409, ConflictError, "not_cancellable"),
        (422, UnprocessableEntityError, "validation_error"),
    ],
)
def test_client_errors_are_not_retried_and_are_typed(
    client: Client,
    api: respx.MockRouter,
    status: int,
    error_class: type[Exception],
    code: str,
) -> None:
    route = api.post("/api/schedule-sms").respond(
        status,
        json=error_body(code, "phoneNumber: must be E.164", "phoneNumber"),
        headers={"X-Request-ID": "req-1"},
    )

    with pytest.raises(error_class) as caught:
        client.call("schedule_sms", "+1", "Hi", workspace_id="ws-1")

    error = caught.value
    assert route.call_count == 1
    assert error.status_code == status  # type: ignore[attr-defined]
    assert error.code == code  # type: ignore[attr-defined]
    assert error.message == "phoneNumber: must be E.164"  # type: ignore[attr-defined]
    assert error.request_id == "req-1"  # type: ignore[attr-defined]
    assert error.field == "phoneNumber"  # type: ignore[attr-defined]
    assert error.errors[0].field == "phoneNumber"  # type: ignore[attr-defined]


def test_invalid_max_retries_is_refused(make_client: Callable[..., Client]) -> None:
    for value in (-1, None, 1.5, True):
        with pytest.raises(ValueError, match="max_retries"):
            make_client(max_retries=value)


def test_with_options_changes_one_thing(
    make_client: Callable[..., Client], api: respx.MockRouter
) -> None:
    client = make_client(api_key="first")
    route = api.get("/api/jobs/01JOB").respond(200, json=JOB)

    other = client.service.with_options(api_key="second", max_retries=0)

    assert other.max_retries == 0
    assert other.base_url == client.service.base_url
    Client(client.flavour, other).call("get_job", "01JOB")
    assert route.calls[0].request.headers["Authorization"] == "Bearer second"


def test_bulk_is_sent_in_chunks_with_stable_keys_and_progress(
    client: Client, api: respx.MockRouter
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        size = len(json.loads(request.content)["messages"])
        results = [
            {"index": i, "success": True, "jobId": f"j{i}", "status": "SCHEDULED",
             "scheduledFor": "2026-11-24T10:15:30.123Z", "duplicate": False}
            for i in range(size)
        ]  # fmt: skip
        body = {"success": True, "total": size, "accepted": size, "rejected": 0, "results": results}
        return httpx.Response(200, json=body)

    seen: list[httpx.Request] = []

    def first_fails(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503) if len(seen) == 1 else answer(request)

    route = api.post("/api/schedule-sms/bulk").mock(side_effect=first_fails)
    progress: list[tuple[int, int]] = []
    messages = [{"phoneNumber": "+14155550100", "message": "Hi", "workspaceId": "ws"}] * 2500

    result = client.call(
        "schedule_sms_bulk", messages, idempotency_key="launch", chunk_size=1000,
        on_progress=lambda done, total: progress.append((done, total)),
    )  # fmt: skip

    keys = [call.request.headers["Idempotency-Key"] for call in route.calls]
    assert keys == [
        "launch:0",
        "launch:0",
        "launch:1000",
        "launch:2000",
    ]  # the retry reuses its key
    assert [len(json.loads(call.request.content)["messages"]) for call in route.calls] == [
        1000,
        1000,
        1000,
        500,
    ]
    assert progress == [(1000, 2500), (2000, 2500), (2500, 2500)]
    assert (result.total, result.accepted) == (2500, 2500)
    assert [item.index for item in result.results] == list(range(2500))


def test_an_empty_bulk_sends_nothing(client: Client, api: respx.MockRouter) -> None:
    route = api.post("/api/schedule-email/bulk")

    result = client.call("schedule_email_bulk", [])

    assert not route.called
    assert (result.total, result.success) == (0, True)


# ---- workspace limits -------------------------------------------------------------------------

CHANNEL_LIMITS = {
    "limit": 10,
    "channelLimit": 50,
    "usedLastSecond": 10,
    "throttled": True,
    "heldUntil": None,
    "backlog": 1200,
    "rateLimitHits": {"count": 2, "lastExceeded": "2026-11-24T10:15:30.123Z"},
}
WORKSPACE_LIMITS = {
    "workspaceId": "ws-1",
    "sms": CHANNEL_LIMITS,
    "email": {
        "limit": None,
        "channelLimit": 100,
        "usedLastSecond": 0,
        "throttled": True,
        "heldUntil": "2026-11-24T10:16:00.000Z",
        "backlog": 0,
        "rateLimitHits": {"count": 0, "lastExceeded": None},
    },
    "timestamp": "2026-11-24T10:15:45.678Z",
}


@pytest.mark.parametrize(
    ("arguments", "body"),
    [
        ({"sms": 10}, {"sms": 10}),
        ({"sms": None}, {"sms": None}),  # None removes the limit: sent as null
        ({"sms": 5, "email": None}, {"sms": 5, "email": None}),
        ({}, {}),  # nothing given: nothing changes
    ],
)
def test_set_workspace_limits_sends_only_the_channels_given(
    client: Client, api: respx.MockRouter, arguments: dict[str, object], body: dict[str, object]
) -> None:
    route = api.put("/api/workspaces/ws-1/limits").respond(200, json=WORKSPACE_LIMITS)

    limits = client.call("set_workspace_limits", "ws-1", **arguments)

    assert sent_json(route) == body
    assert "Idempotency-Key" not in route.calls[0].request.headers  # a PUT is idempotent
    assert limits.sms.limit == 10


def test_get_workspace_limits_reads_every_figure(client: Client, api: respx.MockRouter) -> None:
    api.get("/api/workspaces/ws%3A1%2B2/limits").respond(200, json=WORKSPACE_LIMITS)

    limits = client.call("get_workspace_limits", "ws:1+2")

    sms = limits.sms
    assert (sms.limit, sms.channel_limit, sms.used_last_second, sms.backlog) == (10, 50, 10, 1200)
    assert (sms.throttled, sms.held_until) == (True, None)
    assert sms.rate_limit_hits.count == 2
    assert sms.rate_limit_hits.last_exceeded == datetime(2026, 11, 24, 10, 15, 30, 123_000, UTC)
    assert limits.email.held_until == datetime(2026, 11, 24, 10, 16, tzinfo=UTC)
    assert limits.timestamp.tzinfo is not None


def test_check_workspace_rate_limits_keeps_its_fields_and_adds_each_channels_figures(
    client: Client, api: respx.MockRouter
) -> None:
    route = api.get("/api/workspaces/ws-1/limits").respond(200, json=WORKSPACE_LIMITS)

    check = client.call("check_workspace_rate_limits", "ws-1")

    # one request, and the fields it always had, with their meaning
    assert route.call_count == 1
    assert (check.workspace_id, check.limited, check.sms_count, check.email_count) == (
        "ws-1",
        True,
        2,
        0,
    )
    assert check.last_sms_exceeded == check.last_exceeded
    assert check.last_email_exceeded is None
    # and what app code decides with: limits, use, backlog, throttled, 429s
    assert (check.sms.limit, check.sms.used_last_second, check.sms.backlog) == (10, 10, 1200)
    assert check.email.held_until is not None
    assert check.throttled is True


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, PermissionDeniedError), (404, NotFoundError), (422, UnprocessableEntityError)],
)
def test_set_workspace_limits_errors_are_typed(
    client: Client, api: respx.MockRouter, status: int, error: type[Exception]
) -> None:
    body = error_body("validation_error", "sms: must be 1 to 100000 sends per second", "sms")
    api.put("/api/workspaces/ws-1/limits").respond(status, json=body)

    with pytest.raises(error):
        client.call("set_workspace_limits", "ws-1", sms=0)


def test_a_workspace_limits_call_without_a_workspace_sends_nothing(
    client: Client, api: respx.MockRouter
) -> None:
    for method in ("get_workspace_limits", "set_workspace_limits", "check_workspace_rate_limits"):
        with pytest.raises(ValueError, match="workspace_id"):
            client.call(method, "")
