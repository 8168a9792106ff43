"""The SDK's errors. Catch `QueueServiceError` for all of them.

```
QueueServiceError
├── APIError                     .message, .request, .body, .request_id
│   ├── APIConnectionError       the server could not be reached (wraps the httpx error)
│   │   └── APITimeoutError      no answer in time
│   └── APIStatusError           the server answered 4xx/5xx: .status_code, .response, .code,
│       │                        .field, .errors, .retry_after
│       ├── BadRequestError              400  (invalid JSON)
│       ├── AuthenticationError          401
│       ├── PermissionDeniedError        403
│       ├── NotFoundError                404
│       ├── ConflictError                409  (not cancellable; Idempotency-Key reused)
│       ├── UnprocessableEntityError     422  (validation: .errors lists the fields)
│       ├── RateLimitError               429  .retry_after (the API key's request rate)
│       ├── BacklogFullError             507  the workspace's backlog, or the store, is full
│       └── InternalServerError          other 5xx
└── InvalidSendTimeError         (also a ValueError) a bad delay or send time, raised before
                                 any request is sent
```
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from queue_services._models import FieldError

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "InvalidSendTimeError",
    "NotFoundError",
    "PermissionDeniedError",
    "QueueServiceError",
    "RateLimitError",
    "UnprocessableEntityError",
    "make_status_error",
    "translate_transport_errors",
]


class QueueServiceError(Exception):
    """Base class of every error the SDK raises."""


class InvalidSendTimeError(QueueServiceError, ValueError):
    """Raised for a delay or send time the server could not accept: negative, naive, or both."""


class APIError(QueueServiceError):
    """Raised when a request to the server did not succeed."""

    def __init__(
        self,
        message: str,
        request: httpx.Request,
        *,
        body: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.body = body
        self.request_id = request_id


class APIConnectionError(APIError):
    """Raised when the server could not be reached (refused, reset, DNS, TLS...)."""

    def __init__(self, request: httpx.Request, message: str = "Connection error.") -> None:
        super().__init__(message, request)


class APITimeoutError(APIConnectionError):
    """Raised when the server did not answer within the timeout."""

    def __init__(self, request: httpx.Request) -> None:
        super().__init__(request, "Request timed out.")


class APIStatusError(APIError):
    """Raised when the server answered with a 4xx or 5xx status."""

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        body: Any,
        request_id: str | None,
        code: str | None = None,
        field: str | None = None,
        errors: list[FieldError] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, response.request, body=body, request_id=request_id)
        self.response = response
        self.status_code = response.status_code
        self.code = code
        self.field = field
        self.errors = errors or []
        #: Seconds the server asked the client to wait (Retry-After), if it said.
        self.retry_after = retry_after

    def __str__(self) -> str:
        suffix = f" (request id {self.request_id})" if self.request_id else ""
        return f"{self.status_code} {self.message}{suffix}"


class BadRequestError(APIStatusError):
    """400: the body was not valid JSON."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the API key may not do this."""


class NotFoundError(APIStatusError):
    """404: no such job."""


class ConflictError(APIStatusError):
    """409: the job is no longer cancellable, or an Idempotency-Key was reused for another body."""


class UnprocessableEntityError(APIStatusError):
    """422: a field was missing or invalid; `errors` lists each one, `field` names the first."""


class RateLimitError(APIStatusError):
    """429: too many requests; `retry_after` is the server's wait in seconds, when it gave one."""


class BacklogFullError(APIStatusError):
    """507: the workspace already has as many unfinished messages as the server allows
    (``MAX_WORKSPACE_BACKLOG``, `code` ``backlog_full``), or the server's Redis is nearly full
    (``MEMORY_GUARD_SHARE``, `code` ``store_full``). Not retried: schedule more once some have
    been sent."""


class InternalServerError(APIStatusError):
    """5xx: the server failed, or Redis was unavailable (503)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
}


def make_status_error(response: httpx.Response, *, retry_after: float | None) -> APIStatusError:
    """The error for a 4xx/5xx `response`, with the server's message, code and fields."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    detail = body.get("error") if isinstance(body, dict) else None
    request_id = response.headers.get("x-request-id")
    if isinstance(body, dict) and isinstance(body.get("requestId"), str):
        request_id = body["requestId"]
    message = response.reason_phrase or "error"
    code = field = None
    errors: list[FieldError] = []
    if isinstance(detail, dict):
        message = str(detail.get("message") or message)
        code = detail.get("code")
        field = detail.get("field")
        errors = [FieldError.model_validate(item) for item in detail.get("errors") or []]
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    kwargs: dict[str, Any] = {
        "response": response,
        "body": body,
        "request_id": request_id,
        "code": code,
        "field": field,
        "errors": errors,
        "retry_after": retry_after,
    }
    status = response.status_code
    if status == 429:
        return RateLimitError(message, **kwargs)
    if status == 507:
        return BacklogFullError(message, **kwargs)
    if status >= 500:
        return InternalServerError(message, **kwargs)
    return _BY_STATUS.get(status, APIStatusError)(message, **kwargs)


@contextmanager
def translate_transport_errors(request: httpx.Request) -> Iterator[None]:
    """httpx's errors in sending `request` as ours, the httpx error as the ``__cause__``: a
    timeout is an `APITimeoutError`, any other failure to reach the server an
    `APIConnectionError`."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise APITimeoutError(request) from exc
    except httpx.TransportError as exc:
        raise APIConnectionError(request, f"Connection error: {exc}") from exc
