"""The retry policy as tables: what is retried, Retry-After parsing, backoff bounds."""

from __future__ import annotations

import httpx
import pytest

from queue_services import APIConnectionError, APITimeoutError, InvalidSendTimeError
from queue_services._exceptions import make_status_error
from queue_services._retries import backoff_s, is_retryable, parse_retry_after

NOW = 1_764_000_000.0  # 2025-11-24T16:00:00Z
REQUEST = httpx.Request("POST", "http://queue.test/api/schedule-sms")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": " 0.5 "}, 0.5),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "Mon, 24 Nov 2025 16:00:30 GMT"}, 30.0),
        ({"Retry-After": "Mon, 24 Nov 2025 15:59:00 GMT"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "-inf"}, None),
        ({"Retry-After": "   "}, None),
        ({"Retry-After": "Mon, 24 Nov 2025 16:01:00 +0000"}, 60.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(httpx.Headers(headers), now=NOW) == expected


def status_error(status: int, retry_after: str | None = None) -> Exception:
    headers = {"Retry-After": retry_after} if retry_after else {}
    response = httpx.Response(status, headers=headers, request=REQUEST)
    return make_status_error(response, retry_after=parse_retry_after(response.headers, now=NOW))


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (APIConnectionError(REQUEST), True),
        (APITimeoutError(REQUEST), True),
        (status_error(408), True),
        (status_error(429), True),
        (status_error(429, "60"), True),
        (status_error(429, "61"), False),
        (status_error(500), True),
        (status_error(502), True),
        (status_error(503, "1"), True),
        (status_error(507), False),  # a full workspace backlog drains in minutes
        (status_error(400), False),
        (status_error(401), False),
        (status_error(403), False),
        (status_error(404), False),
        (status_error(409), False),
        (status_error(413), False),
        (status_error(422), False),
        (InvalidSendTimeError("no"), False),
        (ValueError("not ours"), False),
    ],
)
def test_is_retryable(error: Exception, retryable: bool) -> None:
    assert is_retryable(error) is retryable


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 0.25, 0.5), (2, 0.5, 1.0), (3, 1.0, 2.0), (4, 2.0, 4.0), (5, 4.0, 8.0), (9, 4.0, 8.0)],
)
def test_backoff_is_exponential_capped_and_jittered(attempt: int, low: float, high: float) -> None:
    assert backoff_s(attempt, jitter=lambda: 0.0) == low
    assert backoff_s(attempt, jitter=lambda: 1.0) == high
    assert low <= backoff_s(attempt) <= high


@pytest.mark.parametrize(
    ("attempt", "base_s", "max_s", "low", "high"),
    [
        (1, 1.0, 60.0, 0.5, 1.0),
        (3, 1.0, 60.0, 2.0, 4.0),
        (7, 1.0, 60.0, 30.0, 60.0),  # 64 s, capped at 60
        (1, 10.0, 5.0, 2.5, 5.0),  # a base over the cap is capped too
        (4, 0.1, 0.5, 0.25, 0.5),
        (2, 0.0, 8.0, 0.0, 0.0),
    ],
)
def test_backoff_takes_its_base_and_cap(
    attempt: int, base_s: float, max_s: float, low: float, high: float
) -> None:
    assert backoff_s(attempt, base_s=base_s, max_s=max_s, jitter=lambda: 0.0) == low
    assert backoff_s(attempt, base_s=base_s, max_s=max_s, jitter=lambda: 1.0) == high
    assert low <= backoff_s(attempt, base_s=base_s, max_s=max_s) <= high
