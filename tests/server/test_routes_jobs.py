"""GET /api/jobs/{id}, DELETE /api/jobs/{id} and GET /api/jobs, over real HTTP and Redis."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis as redis_lib

from queue_services_server.store.keys import KeySpace
from tests.stored import set_status

KEYS = KeySpace()

SMS = {"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "ws-1", "delay": 60_000}


def schedule(http: httpx.Client, **changes: Any) -> str:
    response = http.post("/api/schedule-sms", json={**SMS, **changes})
    assert response.status_code == 201, response.text
    job_id: str = response.json()["jobId"]
    return job_id


def take_for_sending(redis: redis_lib.Redis, job_id: str) -> None:
    """Do what a worker does when it takes a job and its send slot comes: status PROCESSING,
    off the schedule, in the channel's set of jobs on their way to the provider."""
    set_status(redis, job_id, "PROCESSING")
    redis.zrem(KEYS.workspace_schedule("sms", "ws-1", "normal"), job_id)
    redis.sadd(KEYS.sending("sms"), job_id)


def test_get_job_shows_it_scheduled_with_its_due_time(http: httpx.Client) -> None:
    job_id = schedule(http, contactId="c-9", priority="high", metadata={"campaign": "spring"})

    job = http.get(f"/api/jobs/{job_id}").json()

    assert job["jobId"] == job_id
    assert job["status"] == "SCHEDULED"
    assert job["priority"] == "high"
    assert job["contactId"] == "c-9"
    assert job["attempts"] == 0
    assert job["metadata"] == {"campaign": "spring"}
    assert job["scheduledFor"] > job["createdAt"]


def test_unknown_job_is_404(http: httpx.Client) -> None:
    for path in ("/api/jobs/01NOSUCHJOB0000000000000000", "/api/jobs/" + "x" * 500):
        response = http.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_cancel_takes_the_job_off_the_schedule(http: httpx.Client, redis: redis_lib.Redis) -> None:
    job_id = schedule(http, delay=60_000)
    schedule_key = KEYS.workspace_schedule("sms", "ws-1", "normal")
    assert redis.zscore(schedule_key, job_id) is not None

    response = http.delete(f"/api/jobs/{job_id}")

    assert response.status_code == 200
    assert response.json() == {"success": True, "jobId": job_id, "status": "CANCELLED"}
    assert http.get(f"/api/jobs/{job_id}").json()["status"] == "CANCELLED"
    assert redis.zscore(schedule_key, job_id) is None
    assert redis.zscore(KEYS.due("sms", "normal"), "ws-1") is None  # nothing else waits


def test_cancel_twice_is_the_same_answer(http: httpx.Client) -> None:
    job_id = schedule(http)
    http.delete(f"/api/jobs/{job_id}")

    again = http.delete(f"/api/jobs/{job_id}")

    assert again.status_code == 200
    assert again.json()["status"] == "CANCELLED"


def test_cancel_after_the_job_got_its_send_slot_is_a_conflict(
    http: httpx.Client, redis: redis_lib.Redis
) -> None:
    job_id = schedule(http)
    take_for_sending(redis, job_id)

    response = http.delete(f"/api/jobs/{job_id}")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_cancellable"
    assert "PROCESSING" in response.json()["error"]["message"]
    assert http.get(f"/api/jobs/{job_id}").json()["status"] == "PROCESSING"


def test_cancel_many_counts_each_outcome(http: httpx.Client, redis: redis_lib.Redis) -> None:
    cancel, cancelled, sent = schedule(http), schedule(http), schedule(http)
    http.delete(f"/api/jobs/{cancelled}")
    take_for_sending(redis, sent)

    response = http.post(
        "/api/jobs/cancel", json={"jobIds": [cancel, cancelled, sent, "nope", cancel]}
    )

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "cancelled": 1,  # the repeated id is one job
        "alreadyCancelled": 1,
        "notCancellable": 1,
        "notFound": 1,
    }
    assert http.get(f"/api/jobs/{cancel}").json()["status"] == "CANCELLED"


def test_cancel_a_campaign_by_its_metadata_campaign_id(http: httpx.Client) -> None:
    spring = [schedule(http, metadata={"campaignId": "spring", "n": i}) for i in range(3)]
    other = schedule(http, metadata={"campaignId": "autumn"})
    elsewhere = schedule(http, workspaceId="ws-2", metadata={"campaignId": "spring"})

    response = http.post("/api/jobs/cancel", json={"workspaceId": "ws-1", "campaignId": "spring"})

    assert response.status_code == 200
    assert response.json()["cancelled"] == 3
    assert [http.get(f"/api/jobs/{j}").json()["status"] for j in spring] == ["CANCELLED"] * 3
    for job_id in (other, elsewhere):
        assert http.get(f"/api/jobs/{job_id}").json()["status"] == "SCHEDULED"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, None),
        ({"jobIds": []}, "jobIds"),
        ({"jobIds": ["x"] * 10_001}, "jobIds"),
        ({"jobIds": [""]}, "jobIds[0]"),
        ({"jobIds": None}, None),
        ({"jobIds": ["x"], "workspaceId": "ws-1", "campaignId": "c"}, None),
        ({"workspaceId": "ws-1"}, None),
        ({"campaignId": "c"}, None),
        ({"workspaceId": "ws 1", "campaignId": "c"}, "workspaceId"),
        ({"workspaceId": "ws-1", "campaignId": "c" * 201}, "campaignId"),
        ({"workspaceId": "ws-1", "campaignId": 7}, "campaignId"),
        ({"jobIds": [["nested"]]}, "jobIds[0]"),
        ({"jobIds": ["x"], "extra": 1}, "extra"),
    ],
)
def test_cancel_many_refuses_a_body_that_is_not_one_of_its_forms(
    http: httpx.Client, body: dict[str, Any], field: str | None
) -> None:
    response = http.post("/api/jobs/cancel", json=body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    if field is not None:
        assert error["field"] == field
    else:
        assert "jobIds" in error["message"] or "campaignId" in error["message"]


def test_cancel_unknown_job_is_404(http: httpx.Client) -> None:
    assert http.delete("/api/jobs/01NOSUCHJOB0000000000000000").status_code == 404


def test_cancel_keeps_metadata_with_lists_and_big_numbers_intact(http: httpx.Client) -> None:
    # The record is rewritten by Lua's cjson on cancel; what the client sent must survive it.
    metadata = {"tags": [], "ids": [12345678901234567, 2], "nested": {"empty": {}}, "pi": 3.14159}
    job_id = schedule(http, metadata=metadata, message='Olá 👋 / "quoted"')

    http.delete(f"/api/jobs/{job_id}")

    job = http.get(f"/api/jobs/{job_id}").json()
    assert job["metadata"] == metadata
    assert job["payload"]["message"] == 'Olá 👋 / "quoted"'


def test_list_pages_through_a_workspace_newest_first(http: httpx.Client) -> None:
    # Given 25 jobs created in one bulk request (they share a creation millisecond)
    messages = [{**SMS, "contactId": f"c-{index}"} for index in range(25)]
    created = http.post("/api/schedule-sms/bulk", json={"messages": messages}).json()
    schedule(http, workspaceId="ws-other")

    # When I page through them 10 at a time
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"workspaceId": "ws-1", "limit": 10}
        if cursor:
            params["cursor"] = cursor
        page = http.get("/api/jobs", params=params).json()
        pages += 1
        seen += [job["jobId"] for job in page["jobs"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break

    # Then every job of the workspace comes exactly once, and nothing of the other workspace
    assert sorted(seen) == sorted(result["jobId"] for result in created["results"])
    assert len(seen) == len(set(seen)) == 25
    assert pages in (3, 4)


def test_list_filters_by_status_and_channel(http: httpx.Client) -> None:
    keep = schedule(http)
    cancelled = schedule(http)
    http.delete(f"/api/jobs/{cancelled}")
    email = http.post(
        "/api/schedule-email",
        json={"to": "a@example.com", "subject": "s", "text": "t", "workspaceId": "ws-1"},
    ).json()["jobId"]

    def ids(**params: Any) -> list[str]:
        page = http.get("/api/jobs", params={"workspaceId": "ws-1", **params}).json()
        return [job["jobId"] for job in page["jobs"]]

    assert ids(status="CANCELLED") == [cancelled]
    assert ids(status="SCHEDULED", channel="sms") == [keep]
    assert ids(channel="email") == [email]
    assert ids() == [email, cancelled, keep]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "workspaceId"),
        ({"workspaceId": "ws-1", "status": "DONE"}, "status"),
        ({"workspaceId": "ws-1", "limit": "0"}, "limit"),
        ({"workspaceId": "ws-1", "limit": "501"}, "limit"),
        ({"workspaceId": "ws-1", "channel": "fax"}, "channel"),
        ({"workspaceId": "ws-1", "cursor": "garbage"}, "cursor"),
    ],
)
def test_list_rejects_bad_parameters(
    http: httpx.Client, params: dict[str, str], field: str
) -> None:
    response = http.get("/api/jobs", params=params)

    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_a_wrong_method_on_a_job_lists_the_allowed_ones(http: httpx.Client) -> None:
    response = http.patch("/api/jobs/01ANYTHING000000000000000", json={})

    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "DELETE"}
