"""The retry policy: what is retried, how long to wait, and the tenacity arguments for both clients.

Everything here is pure (no I/O, an injectable clock and jitter), so it is table-tested.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import tenacity

from queue_services._config import INITIAL_RETRY_DELAY_S, MAX_RETRY_AFTER_S, MAX_RETRY_DELAY_S
from queue_services._exceptions import APIConnectionError, APIStatusError, BacklogFullError

#: Statuses worth another try: a request timeout, too many requests, and server failures.
RETRYABLE_STATUSES = frozenset({408, 429})


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked to wait, from ``Retry-After`` (seconds or an HTTP date).

    Args:
        headers: the response headers (case-insensitive mapping, like `httpx.Headers`).
        now: the current time as a Unix timestamp (defaults to `time.time()`), for HTTP dates.

    Returns:
        The wait in seconds (never negative: a date already past is 0), or None if the header is
        absent or unreadable (not a number nor a date, NaN or infinite).

    Example:
        >>> parse_retry_after({"retry-after": "Mon, 24 Nov 2025 16:00:30 GMT"}, now=1_764_000_000)
        30.0
    """
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed attempt is worth another: connection errors, timeouts, 408, 429, 5xx.

    A Retry-After longer than `MAX_RETRY_AFTER_S` is not slept through: the error goes to the
    caller, who can schedule the work for later.
    """
    if isinstance(exc, APIConnectionError):
        return True
    if not isinstance(exc, APIStatusError):
        return False
    if exc.retry_after is not None and exc.retry_after > MAX_RETRY_AFTER_S:
        return False
    if isinstance(exc, BacklogFullError):
        return False  # the backlog drains at the sending rate: minutes, not a retry's seconds
    return exc.status_code in RETRYABLE_STATUSES or exc.status_code >= 500


def backoff_s(
    attempt: int,
    *,
    base_s: float = INITIAL_RETRY_DELAY_S,
    max_s: float = MAX_RETRY_DELAY_S,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): exponential from
    `base_s`, doubling each time, capped at `max_s`, with "equal jitter" (between half and all
    of it) so that many clients do not retry in step.

    The one backoff of the product: the SDK's retries, the server's provider retries and its
    status callbacks all wait this long (each with its own base and cap).
    """
    ceiling: float = min(base_s * 2.0 ** (attempt - 1), max_s)
    return ceiling * (0.5 + jitter() / 2)


def _wait(state: tenacity.RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, APIStatusError) and exc.retry_after is not None:
        retry_after: float = exc.retry_after
        return retry_after
    return backoff_s(state.attempt_number)


def retry_arguments(max_retries: int, sleep: Callable[[float], Any]) -> dict[str, Any]:
    """The arguments of `tenacity.Retrying` / `tenacity.AsyncRetrying` for one call.

    The same policy drives both clients; only `sleep` differs (`time.sleep` or `asyncio.sleep`).
    """
    return {
        "stop": tenacity.stop_after_attempt(max_retries + 1),
        "wait": _wait,
        "retry": tenacity.retry_if_exception(is_retryable),
        "sleep": sleep,
        "reraise": True,
    }
