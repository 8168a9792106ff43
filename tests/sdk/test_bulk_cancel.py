"""`cancel_jobs` and `cancel_campaign` on both clients against a mocked server: the body of each
request, chunks of 10,000 ids with their counts summed, what is refused before any request, and
the errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
import respx

from queue_services import (
    BulkCancelResult,
    InternalServerError,
    NotFoundError,
    UnprocessableEntityError,
)
from queue_services._limits import MAX_CANCEL_IDS
from tests.sdk.conftest import Client, error_body

COUNTS = {
    "success": True,
    "cancelled": 12,
    "alreadyCancelled": 1,
    "notCancellable": 3,
    "notFound": 2,
}


def bodies(route: respx.Route) -> list[object]:
    return [json.loads(call.request.content) for call in route.calls]


def counts(result: BulkCancelResult) -> tuple[int, int, int, int]:
    return (result.cancelled, result.already_cancelled, result.not_cancellable, result.not_found)


# ---- cancel_jobs ------------------------------------------------------------------------------


def test_cancel_jobs_posts_the_ids_and_reads_every_count(
    client: Client, api: respx.MockRouter
) -> None:
    route = api.post("/api/jobs/cancel").respond(200, json=COUNTS)

    result = client.call("cancel_jobs", ["01A", "01B", "01C"])

    assert bodies(route) == [{"jobIds": ["01A", "01B", "01C"]}]
    assert isinstance(result, BulkCancelResult)
    assert result.success is True
    assert counts(result) == (12, 1, 3, 2)
    assert route.calls[0].request.headers["Content-Type"] == "application/json"


def test_cancel_jobs_takes_any_sequence_of_ids(client: Client, api: respx.MockRouter) -> None:
    route = api.post("/api/jobs/cancel").respond(200, json=COUNTS)

    client.call("cancel_jobs", ("01A", "01B"))

    assert bodies(route) == [{"jobIds": ["01A", "01B"]}]


def test_10000_ids_go_in_one_request(client: Client, api: respx.MockRouter) -> None:
    route = api.post("/api/jobs/cancel").respond(200, json=COUNTS)
    ids = [f"job-{n}" for n in range(MAX_CANCEL_IDS)]

    result = client.call("cancel_jobs", ids)

    assert bodies(route) == [{"jobIds": ids}]
    assert counts(result) == (12, 1, 3, 2)


def test_10001_ids_go_in_two_requests_and_their_counts_are_summed(
    client: Client, api: respx.MockRouter
) -> None:
    # Given a server whose answer differs by the chunk's size (so a count not summed shows)
    def answer(request: httpx.Request) -> httpx.Response:
        size = len(json.loads(request.content)["jobIds"])
        if size == MAX_CANCEL_IDS:
            body = {"success": True, "cancelled": 9000, "alreadyCancelled": 600,
                    "notCancellable": 300, "notFound": 100}  # fmt: skip
        else:
            body = {"success": True, "cancelled": 1, "alreadyCancelled": 2,
                    "notCancellable": 3, "notFound": 4}  # fmt: skip
        return httpx.Response(200, json=body)

    route = api.post("/api/jobs/cancel").mock(side_effect=answer)
    ids = [f"job-{n}" for n in range(MAX_CANCEL_IDS + 1)]

    # When 10,001 ids are cancelled
    result = client.call("cancel_jobs", ids)

    # Then they go in order, 10,000 then 1, and the result is the two answers added up
    assert bodies(route) == [{"jobIds": ids[:MAX_CANCEL_IDS]}, {"jobIds": ids[MAX_CANCEL_IDS:]}]
    assert counts(result) == (9001, 602, 303, 104)
    assert result.success is True


def test_repeated_ids_are_sent_once_in_the_order_first_given(
    client: Client, api: respx.MockRouter
) -> None:
    # Given 10,000 distinct ids and repeats of some of them: 10,003 ids in all
    route = api.post("/api/jobs/cancel").respond(200, json=COUNTS)
    ids = [f"job-{n}" for n in range(MAX_CANCEL_IDS)]

    client.call("cancel_jobs", ["job-5", *ids, "job-0", "job-5"])

    # Then one request holds each id once: a repeat is not counted again in a later chunk
    [body] = bodies(route)
    assert body == {"jobIds": ["job-5", *(i for i in ids if i != "job-5")]}


def test_a_failed_chunk_raises_and_leaves_the_earlier_chunk_sent(
    make_client: Callable[..., Client], api: respx.MockRouter
) -> None:
    client = make_client(max_retries=0)
    route = api.post("/api/jobs/cancel").mock(
        side_effect=[
            httpx.Response(200, json=COUNTS),
            httpx.Response(503, json=error_body("redis_unavailable", "Redis is unavailable")),
        ]
    )

    with pytest.raises(InternalServerError):
        client.call("cancel_jobs", [f"job-{n}" for n in range(MAX_CANCEL_IDS + 5)])

    assert [len(body["jobIds"]) for body in bodies(route)] == [MAX_CANCEL_IDS, 5]  # type: ignore[index]


def test_a_chunk_is_retried_with_the_same_ids(client: Client, api: respx.MockRouter) -> None:
    route = api.post("/api/jobs/cancel").mock(
        side_effect=[
            httpx.Response(503, json=error_body("redis_unavailable", "Redis is unavailable")),
            httpx.Response(200, json=COUNTS),
        ]
    )

    result = client.call("cancel_jobs", ["01A", "01B"])

    assert bodies(route) == [{"jobIds": ["01A", "01B"]}] * 2
    assert counts(result) == (12, 1, 3, 2)
    assert len(client.sleeps) == 1


@pytest.mark.parametrize(
    ("job_ids", "error_class", "message"),
    [
        ([], ValueError, "at least one job id"),
        ((), ValueError, "at least one job id"),
        ("01JOB", TypeError, "not one str"),
        (["01A", ""], ValueError, r"job_ids\[1\]"),
        (["x" * 65], ValueError, r"job_ids\[0\] must be a job id of 1 to 64"),
        (["01A", None], ValueError, r"job_ids\[1\]"),
    ],
)
def test_cancel_jobs_refuses_bad_ids_before_any_request(
    client: Client,
    api: respx.MockRouter,
    job_ids: object,
    error_class: type[Exception],
    message: str,
) -> None:
    route = api.post("/api/jobs/cancel")

    with pytest.raises(error_class, match=message):
        client.call("cancel_jobs", job_ids)

    assert not route.called


def test_a_bad_id_in_a_later_chunk_stops_the_call_before_the_first_request(
    client: Client, api: respx.MockRouter
) -> None:
    route = api.post("/api/jobs/cancel").respond(200, json=COUNTS)

    with pytest.raises(ValueError, match=r"job_ids\[10000\]"):
        client.call("cancel_jobs", [*(f"job-{n}" for n in range(MAX_CANCEL_IDS)), ""])

    assert not route.called


def test_a_64_character_id_is_sent(client: Client, api: respx.MockRouter) -> None:
    route = api.post("/api/jobs/cancel").respond(200, json=COUNTS)

    client.call("cancel_jobs", ["x" * 64])

    assert bodies(route) == [{"jobIds": ["x" * 64]}]


# ---- cancel_campaign --------------------------------------------------------------------------


def test_cancel_campaign_posts_the_workspace_and_campaign(
    client: Client, api: respx.MockRouter
) -> None:
    route = api.post("/api/jobs/cancel").respond(
        200,
        json={"success": True, "cancelled": 412, "alreadyCancelled": 0, "notCancellable": 3,
              "notFound": 0, "addedByANewerServer": True},
    )  # fmt: skip

    result = client.call("cancel_campaign", "ws-1", "spring-2026")

    assert bodies(route) == [{"workspaceId": "ws-1", "campaignId": "spring-2026"}]
    assert counts(result) == (412, 0, 3, 0)


@pytest.mark.parametrize(
    ("workspace_id", "campaign_id", "message"),
    [("", "spring", "workspace_id"), ("ws-1", "", "campaign_id")],
)
def test_cancel_campaign_refuses_empty_arguments_before_any_request(
    client: Client, api: respx.MockRouter, workspace_id: str, campaign_id: str, message: str
) -> None:
    route = api.post("/api/jobs/cancel")

    with pytest.raises(ValueError, match=message):
        client.call("cancel_campaign", workspace_id, campaign_id)

    assert not route.called


def test_another_workspaces_campaign_is_a_not_found_error(
    client: Client, api: respx.MockRouter
) -> None:
    route = api.post("/api/jobs/cancel").respond(
        404, json=error_body("not_found", "no workspace 'ws-2'")
    )

    with pytest.raises(NotFoundError) as caught:
        client.call("cancel_campaign", "ws-2", "spring")

    assert caught.value.message == "no workspace 'ws-2'"
    assert route.call_count == 1  # a 404 is not retried


@pytest.mark.parametrize("method", ["cancel_jobs", "cancel_campaign"])
def test_a_refused_field_is_an_unprocessable_entity_error(
    client: Client, api: respx.MockRouter, method: str
) -> None:
    route = api.post("/api/jobs/cancel").respond(
        422, json=error_body("validation_error", "campaignId: too long", "campaignId")
    )
    arguments = (["01A"],) if method == "cancel_jobs" else ("ws-1", "c" * 500)

    with pytest.raises(UnprocessableEntityError) as caught:
        client.call(method, *arguments)

    assert caught.value.field == "campaignId"
    assert route.call_count == 1
