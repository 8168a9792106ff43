"""Mapping of answers to the error tree, including answers that are not our JSON."""

from __future__ import annotations

import httpx
import pytest

from queue_services import (
    APIError,
    APIStatusError,
    BacklogFullError,
    InternalServerError,
    PermissionDeniedError,
    QueueServiceError,
    RateLimitError,
    UnprocessableEntityError,
)
from queue_services._exceptions import make_status_error

REQUEST = httpx.Request("GET", "http://queue.test/api/jobs/x")


def error_for(status: int, **kwargs: object) -> APIStatusError:
    response = httpx.Response(status, request=REQUEST, **kwargs)  # type: ignore[arg-type]
    return make_status_error(response, retry_after=None)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (403, PermissionDeniedError),
        (418, APIStatusError),
        (413, APIStatusError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (507, BacklogFullError),
        (599, InternalServerError),
    ],
)
def test_status_maps_to_its_class(status: int, error_class: type[APIStatusError]) -> None:
    error = error_for(status, json={"success": False, "error": {"code": "x", "message": "m"}})

    assert type(error) is error_class
    assert isinstance(error, APIError)
    assert isinstance(error, QueueServiceError)
    assert error.message == "m"


def test_a_non_json_answer_still_gives_a_readable_error() -> None:
    error = error_for(502, text="<html>Bad gateway</html>", headers={"X-Request-ID": "edge-7"})

    assert isinstance(error, InternalServerError)
    assert error.message == "<html>Bad gateway</html>"
    assert error.request_id == "edge-7"
    assert error.code is None


def test_an_empty_answer_uses_the_reason_phrase() -> None:
    error = error_for(500)

    assert error.message == "Internal Server Error"
    assert str(error) == "500 Internal Server Error"


def test_validation_errors_list_every_field() -> None:
    body = {
        "success": False,
        "error": {
            "code": "validation_error",
            "message": "phoneNumber: bad (and 1 more problem)",
            "field": "phoneNumber",
            "errors": [
                {"field": "phoneNumber", "message": "bad", "type": "value_error"},
                {"field": "message", "message": "is required", "type": "missing"},
            ],
        },
        "requestId": "req-9",
    }

    error = error_for(422, json=body)

    assert isinstance(error, UnprocessableEntityError)
    assert [item.field for item in error.errors] == ["phoneNumber", "message"]
    assert error.request_id == "req-9"
    assert "req-9" in str(error)
