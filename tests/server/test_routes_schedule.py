"""POST /api/schedule-sms, /api/schedule-email and their bulk forms, over real HTTP and Redis."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis as redis_lib

from queue_services_server.store.keys import KeySpace
from tests.stored import stored

KEYS = KeySpace()

#: The request bodies exactly as seed 002 gives them.
SEED_SMS = {
    "phoneNumber": "+1234567890",
    "message": "Your message content",
    "contactId": "contact-uuid",
    "workspaceId": "workspace-id",
    "delay": 0,
    "metadata": {"source": "campaign", "campaignId": "campaign-uuid"},
}
SEED_EMAIL = {
    "to": "recipient@example.com",
    "subject": "Email subject",
    "html": "<p>Email content</p>",
    "contactId": "contact-uuid",
    "workspaceId": "workspace-id",
    "delay": 0,
    "metadata": {"source": "campaign", "campaignId": "campaign-uuid"},
}


def parse_instant(text: str) -> datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
    return datetime.fromisoformat(text)


def now() -> datetime:
    return datetime.now(UTC)


def test_seed_sms_body_is_accepted_unchanged(http: httpx.Client) -> None:
    response = http.post("/api/schedule-sms", json=SEED_SMS)

    assert response.status_code == 201
    answer = response.json()
    assert answer["success"] is True
    assert answer["status"] == "SCHEDULED"
    assert answer["channel"] == "sms"
    assert answer["workspaceId"] == "workspace-id"
    assert answer["duplicate"] is False
    assert abs(parse_instant(answer["scheduledFor"]) - now()) < timedelta(seconds=5)
    job = http.get(f"/api/jobs/{answer['jobId']}").json()
    assert job["payload"] == {"phoneNumber": "+1234567890", "message": "Your message content"}
    assert job["metadata"] == SEED_SMS["metadata"]
    assert job["contactId"] == "contact-uuid"


def test_seed_email_body_is_accepted_unchanged(http: httpx.Client) -> None:
    response = http.post("/api/schedule-email", json=SEED_EMAIL)

    assert response.status_code == 201
    job = http.get(f"/api/jobs/{response.json()['jobId']}").json()
    assert job["channel"] == "email"
    assert job["payload"] == {
        "to": "recipient@example.com",
        "subject": "Email subject",
        "html": "<p>Email content</p>",
    }


def test_delay_sets_the_due_time(http: httpx.Client) -> None:
    before = now()
    answer = http.post("/api/schedule-sms", json={**SEED_SMS, "delay": 3_600_000}).json()

    due = parse_instant(answer["scheduledFor"])
    assert before + timedelta(hours=1) - timedelta(seconds=1) <= due
    assert due <= now() + timedelta(hours=1)


def test_send_at_sets_the_due_time_exactly(http: httpx.Client) -> None:
    send_at = "2027-01-15T09:30:00.250+01:00"
    body = {**SEED_SMS, "sendAt": send_at}
    del body["delay"]

    answer = http.post("/api/schedule-sms", json=body).json()

    assert answer["scheduledFor"] == "2027-01-15T08:30:00.250Z"


def test_send_at_in_the_past_means_now(http: httpx.Client) -> None:
    body = {**SEED_SMS, "sendAt": "2020-01-01T00:00:00Z"}
    del body["delay"]

    answer = http.post("/api/schedule-sms", json=body).json()

    assert abs(parse_instant(answer["scheduledFor"]) - now()) < timedelta(seconds=5)


def test_email_with_only_a_text_body_is_accepted(http: httpx.Client) -> None:
    body = {**SEED_EMAIL, "text": "Email content"}
    del body["html"]

    response = http.post("/api/schedule-email", json=body)

    assert response.status_code == 201
    job = http.get(f"/api/jobs/{response.json()['jobId']}").json()
    assert job["payload"]["text"] == "Email content"
    assert "html" not in job["payload"]


def test_job_is_stored_on_the_schedule_and_in_the_workspace_index(
    http: httpx.Client, redis: redis_lib.Redis
) -> None:
    job_id = http.post("/api/schedule-sms", json={**SEED_SMS, "delay": 60_000}).json()["jobId"]

    record = stored(redis, job_id)
    assert record.status == "SCHEDULED"
    due = redis.zscore(KEYS.workspace_schedule("sms", "workspace-id", "normal"), job_id)
    assert due == record.scheduled_for
    assert redis.zscore(KEYS.workspace_jobs("workspace-id"), job_id) == record.created_at


def test_same_idempotency_key_returns_the_first_job(
    http: httpx.Client, redis: redis_lib.Redis
) -> None:
    headers = {"Idempotency-Key": "order-42-reminder"}
    first = http.post("/api/schedule-sms", json=SEED_SMS, headers=headers)
    second = http.post("/api/schedule-sms", json=SEED_SMS, headers=headers)

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["jobId"] == first.json()["jobId"]
    assert second.json()["duplicate"] is True
    assert int(redis.get(KEYS.scheduled_count("sms")) or 0) == 1


def test_same_idempotency_key_with_another_body_is_a_conflict(http: httpx.Client) -> None:
    headers = {"Idempotency-Key": "order-42-reminder"}
    http.post("/api/schedule-sms", json=SEED_SMS, headers=headers)

    response = http.post(
        "/api/schedule-sms", json={**SEED_SMS, "message": "Something else"}, headers=headers
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"


def test_idempotency_key_reused_on_the_other_channel_is_a_conflict(http: httpx.Client) -> None:
    headers = {"Idempotency-Key": "welcome"}
    http.post("/api/schedule-sms", json=GOOD_SMS, headers=headers)

    response = http.post("/api/schedule-email", json=GOOD_EMAIL, headers=headers)

    assert response.status_code == 409


def test_idempotency_keys_are_scoped_to_the_workspace(http: httpx.Client) -> None:
    headers = {"Idempotency-Key": "same-key"}
    first = http.post("/api/schedule-sms", json=SEED_SMS, headers=headers).json()
    other = http.post(
        "/api/schedule-sms", json={**SEED_SMS, "workspaceId": "other-ws"}, headers=headers
    )

    assert other.status_code == 201
    assert other.json()["jobId"] != first["jobId"]


def test_every_answer_carries_a_request_id(http: httpx.Client) -> None:
    response = http.post("/api/schedule-sms", json={}, headers={"X-Request-ID": "trace-123"})

    assert response.headers["X-Request-ID"] == "trace-123"
    assert response.json()["requestId"] == "trace-123"
    # without one (or with one not plain enough to log), the server makes one: 16 hex digits,
    # sent once, the same as in the body
    for offered in ({}, {"X-Request-ID": "no spaces please"}):
        answer = http.post("/api/schedule-sms", json={}, headers=offered)
        assert len(answer.headers.get_list("X-Request-ID")) == 1
        made = answer.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{16}", made)
        assert answer.json()["requestId"] == made


# ---- bad input ------------------------------------------------------------------------------

GOOD_SMS: dict[str, Any] = {"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "ws-1"}
GOOD_EMAIL: dict[str, Any] = {
    "to": "jane@example.com",
    "subject": "Hi",
    "html": "<p>Hi</p>",
    "workspaceId": "ws-1",
}


def sms(**changes: Any) -> dict[str, Any]:
    body = {**GOOD_SMS, **changes}
    return {name: value for name, value in body.items() if value is not ...}


def email(**changes: Any) -> dict[str, Any]:
    body = {**GOOD_EMAIL, **changes}
    return {name: value for name, value in body.items() if value is not ...}


# (path, body, expected status, expected field); `...` removes a field.
BAD_INPUTS = [
    ("sms", sms(phoneNumber=...), 422, "phoneNumber"),
    ("sms", sms(phoneNumber="4155550123"), 422, "phoneNumber"),
    ("sms", sms(phoneNumber="+0155550123"), 422, "phoneNumber"),
    ("sms", sms(phoneNumber="+1415555012345678"), 422, "phoneNumber"),
    ("sms", sms(phoneNumber=14155550123), 422, "phoneNumber"),
    ("sms", sms(message=""), 422, "message"),
    ("sms", sms(message="   "), 422, "message"),
    ("sms", sms(message="x" * 1601), 422, "message"),
    ("sms", sms(message=None), 422, "message"),
    ("sms", sms(workspaceId=...), 422, "workspaceId"),
    ("sms", sms(workspaceId=""), 422, "workspaceId"),
    ("sms", sms(workspaceId="has space"), 422, "workspaceId"),
    ("sms", sms(workspaceId="w" * 129), 422, "workspaceId"),
    ("sms", sms(workspaceId="ws:{1}"), 422, "workspaceId"),
    ("sms", sms(contactId="a/b"), 422, "contactId"),
    ("sms", sms(delay=-1), 422, "delay"),
    ("sms", sms(delay="5000"), 422, "delay"),
    ("sms", sms(delay=True), 422, "delay"),
    ("sms", sms(delay=10**20), 422, "delay"),
    ("sms", sms(delay=366 * 86_400_000 + 1), 422, "delay"),
    ("sms", sms(sendAt="2027-01-01T09:00:00"), 422, "sendAt"),
    ("sms", sms(sendAt="tomorrow"), 422, "sendAt"),
    ("sms", sms(sendAt="2099-01-01T00:00:00Z"), 422, "sendAt"),
    ("sms", sms(delay=1000, sendAt="2027-01-01T09:00:00Z"), 422, "sendAt"),
    ("sms", sms(priority="urgent"), 422, "priority"),
    ("sms", sms(metadata=[1, 2]), 422, "metadata"),
    ("sms", sms(metadata="campaign"), 422, "metadata"),
    ("sms", sms(metadata={"blob": "x" * 5000}), 422, "metadata"),
    ("sms", sms(metadata={"campaignId": "c" * 201}), 422, "metadata"),
    ("sms", sms(metadata={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}), 422,
     "metadata"),
    ("sms", sms(delayMs=5000), 422, "delayMs"),
    ("sms", sms(to="+14155550123"), 422, "to"),
    ("email", email(to=...), 422, "to"),
    ("email", email(to="not-an-address"), 422, "to"),
    ("email", email(to="jane@"), 422, "to"),
    ("email", email(subject=""), 422, "subject"),
    ("email", email(subject="Hello\r\nBcc: victim@example.com"), 422, "subject"),
    ("email", email(subject="x" * 999), 422, "subject"),
    ("email", email(html=...), 422, "html"),
    ("email", email(html="  "), 422, "html"),
    ("email", email(text=5), 422, "text"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("channel", "body", "status", "field"),
    BAD_INPUTS,
    ids=[f"{case[0]}-{index}-{case[3] or 'body'}" for index, case in enumerate(BAD_INPUTS)],
)
def test_bad_input_gets_a_4xx_naming_the_field(
    http: httpx.Client,
    redis: redis_lib.Redis,
    channel: str,
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    response = http.post(f"/api/schedule-{channel}", json=body)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == field
    assert error["message"].startswith(f"{field}: ")
    assert redis.dbsize() == 0, "a rejected request stored something"


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b'{"phoneNumber": ', {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b"[1, 2, 3]", {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b'"just a string"', {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b'{"message": "\xff\xfe"}', {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b'{"message": "\\ud800"}', {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b"", {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b'{"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "w", "delay": 0,'
         b' "delay": 86400000}', {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b'{"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "w",'
         b' "metadata": {"a": 1, "a": 2}}', {"Content-Type": "application/json"}, 400,
         "invalid_json"),
        (b"phoneNumber=%2B1", {"Content-Type": "application/x-www-form-urlencoded"}, 415,
         "unsupported_media_type"),
        (b"{}", {}, 415, "unsupported_media_type"),
        (b"{}", {"Content-Type": "application/json; charset=latin-1"}, 415,
         "unsupported_media_type"),
    ],
)  # fmt: skip
def test_malformed_bodies_get_a_4xx(
    http: httpx.Client, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    response = http.post("/api/schedule-sms", content=content, headers=headers)

    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_oversize_body_is_413(http: httpx.Client, redis: redis_lib.Redis) -> None:
    body = sms(message="x" * (1024 * 1024))

    response = http.post("/api/schedule-sms", json=body)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert redis.dbsize() == 0


def test_oversize_chunked_body_is_413_without_content_length(http: httpx.Client) -> None:
    def chunks() -> Any:
        yield b'{"message": "'
        for _ in range(300):
            yield b"x" * 4096
        yield b'"}'

    response = http.post(
        "/api/schedule-sms", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413


def test_invalid_idempotency_key_is_422(http: httpx.Client) -> None:
    response = http.post("/api/schedule-sms", json=GOOD_SMS, headers={"Idempotency-Key": "x" * 256})

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "Idempotency-Key"


def test_unknown_route_and_method_are_json_4xx(http: httpx.Client) -> None:
    missing = http.get("/api/nothing-here")
    wrong_method = http.get("/api/schedule-sms")

    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


# ---- bulk -----------------------------------------------------------------------------------


def test_bulk_of_5000_is_one_request_with_a_result_per_message(
    http: httpx.Client, redis: redis_lib.Redis
) -> None:
    messages = [
        {
            "phoneNumber": f"+1415555{index:04d}",
            "message": "Doors open at 9",
            "workspaceId": f"ws-{index % 3}",
            "contactId": f"c-{index}",
        }
        for index in range(5000)
    ]
    started = time.perf_counter()
    response = http.post("/api/schedule-sms/bulk", json={"messages": messages})
    elapsed = time.perf_counter() - started

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["success"], answer["total"], answer["accepted"]) == (True, 5000, 5000)
    assert [result["index"] for result in answer["results"]] == list(range(5000))
    assert len({result["jobId"] for result in answer["results"]}) == 5000
    assert int(redis.get(KEYS.scheduled_count("sms")) or 0) == 5000
    print(f"bulk of 5000 SMS: {elapsed * 1000:.0f} ms")  # context only, not asserted


def test_bulk_reports_bad_items_and_schedules_the_rest(
    http: httpx.Client, redis: redis_lib.Redis
) -> None:
    messages = [GOOD_SMS, sms(phoneNumber="nope"), "not an object", sms(message="second")]

    answer = http.post("/api/schedule-sms/bulk", json={"messages": messages}).json()

    assert (answer["success"], answer["accepted"], answer["rejected"]) == (False, 2, 2)
    results = answer["results"]
    assert [result["success"] for result in results] == [True, False, False, True]
    assert results[1]["error"]["field"] == "phoneNumber"
    assert results[2]["error"]["code"] == "validation_error"
    assert int(redis.get(KEYS.scheduled_count("sms")) or 0) == 2


def test_bulk_retry_with_the_same_key_schedules_nothing_new(
    http: httpx.Client, redis: redis_lib.Redis
) -> None:
    messages = [sms(contactId=f"c-{index}") for index in range(10)]
    headers = {"Idempotency-Key": "broadcast-7"}

    one = http.post("/api/schedule-sms/bulk", json={"messages": messages}, headers=headers).json()
    two = http.post("/api/schedule-sms/bulk", json={"messages": messages}, headers=headers).json()

    assert one["accepted"] == 10
    assert [r["jobId"] for r in one["results"]] == [r["jobId"] for r in two["results"]]
    assert all(r["duplicate"] for r in two["results"])
    assert int(redis.get(KEYS.scheduled_count("sms")) or 0) == 10


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": {"0": GOOD_SMS}}, "messages"),
        ({"messages": [GOOD_SMS], "extra": 1}, "extra"),
    ],
)
def test_bulk_envelope_errors_reject_the_whole_request(
    http: httpx.Client, body: dict[str, Any], field: str
) -> None:
    response = http.post("/api/schedule-sms/bulk", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_bulk_over_the_item_limit_is_rejected(http: httpx.Client) -> None:
    response = http.post("/api/schedule-sms/bulk", json={"messages": [GOOD_SMS] * 10_001})

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "messages"
