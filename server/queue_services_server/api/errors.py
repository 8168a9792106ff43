"""The API's errors: `ApiError` and its family, and the handlers that render every error as JSON.

Routes raise an `ApiError` subclass; one handler turns it into the documented shape
(``{"success": false, "error": {code, message, field, errors}, "requestId"}``). Starlette's own
404/405, an unreachable Redis (503) and unexpected exceptions (500, logged, never a traceback in
the answer) get the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from queue_services_server.api.schemas import ErrorAnswer, ErrorDetail, FieldError
from queue_services_server.store.connection import StoreUnavailableError

logger = logging.getLogger("queue_services_server")

#: Seconds a client is asked to wait before retrying while Redis is unavailable.
UNAVAILABLE_RETRY_AFTER_S = 1


class ApiError(Exception):
    """An error the API answers with: an HTTP status, a stable `code` and a readable message."""

    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: Sequence[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})

    def detail(self) -> ErrorDetail:
        """The ``error`` member of the answer."""
        return ErrorDetail(
            code=self.code, message=self.message, field=self.field, errors=self.errors
        )


class InvalidJsonError(ApiError):
    """The body is not a JSON object in UTF-8."""

    status_code = 400
    code = "invalid_json"


class UnauthorizedError(ApiError):
    """The API key is missing or wrong."""

    status_code = 401
    code = "unauthorized"


class ForbiddenError(ApiError):
    """The key is valid but may not do this (a workspace key on an admin route, or scheduling
    for another workspace)."""

    status_code = 403
    code = "forbidden"


class NotFoundError(ApiError):
    """No such job or route."""

    status_code = 404
    code = "not_found"


class MethodNotAllowedError(ApiError):
    """The route exists but not with this method."""

    status_code = 405
    code = "method_not_allowed"


class NotCancellableError(ApiError):
    """The job has been taken for sending: too late to cancel."""

    status_code = 409
    code = "not_cancellable"


class IdempotencyConflictError(ApiError):
    """An Idempotency-Key was reused with a different body."""

    status_code = 409
    code = "idempotency_conflict"


class PayloadTooLargeError(ApiError):
    """The body is over the size limit."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(ApiError):
    """The body is not ``application/json``."""

    status_code = 415
    code = "unsupported_media_type"


class ValidationFailedError(ApiError):
    """One or more fields are missing, of the wrong type or out of range."""

    status_code = 422
    code = "validation_error"

    @classmethod
    def from_pydantic(cls, exc: ValidationError, *, prefix: str = "") -> ValidationFailedError:
        """Build from pydantic's errors, with field paths as the client wrote them."""
        errors = field_errors(exc.errors(include_url=False, include_context=False), prefix)
        first = errors[0]
        message = f"{first.field}: {first.message}" if first.field else first.message
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        return cls(message, field=first.field or None, errors=errors)


class TooManyRequestsError(ApiError):
    """The key made more requests than its rate limit allows; retry after ``Retry-After``."""

    status_code = 429
    code = "rate_limited"


class BacklogFullError(ApiError):
    """The workspace has as many unfinished jobs as `MAX_WORKSPACE_BACKLOG` allows."""

    status_code = 507
    code = "backlog_full"


class StoreFullError(ApiError):
    """Redis is past `MEMORY_GUARD_SHARE` of its maxmemory: no new jobs until it has room."""

    status_code = 507
    code = "store_full"


class CallbacksBackloggedError(ApiError):
    """More status callbacks wait than `MAX_CALLBACK_BACKLOG`: no new jobs with a callback URL
    until they are delivered; retry after ``Retry-After``."""

    status_code = 503
    code = "callbacks_backlogged"


class ServiceUnavailableError(ApiError):
    """A dependency (Redis) is away; retry later."""

    status_code = 503
    code = "redis_unavailable"


#: Clearer words for pydantic's most common error types.
_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field (check its spelling)",
    "string_type": "must be a string",
    "float_type": "must be a number",
    "int_type": "must be an integer",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "list_type": "must be a list",
    "timezone_aware": "must carry a UTC offset, like 2026-12-01T09:30:00+01:00",
}


def _path(loc: Sequence[int | str], prefix: str) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else part
    return path


def field_errors(details: Sequence[ErrorDetails], prefix: str = "") -> list[FieldError]:
    """Pydantic error details as `FieldError`s (``messages[3].phoneNumber`` style paths)."""
    errors = []
    for detail in details:
        # Model-level validators report an empty location; the message names the fields.
        loc = [part for part in detail["loc"] if part != "function-after[...]"]
        message = _MESSAGES.get(detail["type"]) or detail["msg"].removeprefix("Value error, ")
        errors.append(FieldError(field=_path(loc, prefix), message=message, type=detail["type"]))
    return errors


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def error_response(request: Request, error: ApiError) -> Response:
    """Render `error` in the documented shape."""
    answer = ErrorAnswer(error=error.detail(), requestId=_request_id(request))
    body = orjson.dumps(answer.model_dump(mode="json", exclude_none=True))
    headers = dict(error.headers)
    if answer.request_id:
        headers["X-Request-ID"] = answer.request_id
    return Response(body, error.status_code, headers, media_type="application/json")


async def handle_api_error(request: Request, exc: Exception) -> Response:
    """Handler for `ApiError`."""
    assert isinstance(exc, ApiError)
    return error_response(request, exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Handler for Starlette's own 404 and 405 (unknown route or method)."""
    assert isinstance(exc, HTTPException)
    error: ApiError
    if exc.status_code == 405:
        error = MethodNotAllowedError(
            f"{request.method} is not allowed on {request.url.path}", headers=exc.headers
        )
    elif exc.status_code == 404:
        error = NotFoundError(f"no route {request.url.path}")
    else:
        error = ApiError(str(exc.detail))
        error.status_code = exc.status_code
        error.code = "http_error"
    return error_response(request, error)


async def handle_store_unavailable(request: Request, exc: Exception) -> Response:
    """Handler for `StoreUnavailableError`: 503 with Retry-After, so clients back off and retry."""
    logger.warning("redis unavailable: %s", exc)
    error = ServiceUnavailableError(
        "Redis is unavailable; retry shortly",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)},
    )
    return error_response(request, error)


async def handle_client_disconnect(request: Request, exc: Exception) -> Response:
    """Handler for a client that went away before its request body was read (a load generator
    stopping, a phone losing its network): nothing was stored (bodies are read whole before
    anything is written) and nobody will read an answer, so it is no error of ours to log."""
    logger.debug(
        "client went away during %s %s (request %s)",
        request.method,
        request.url.path,
        _request_id(request),
    )
    return Response(status_code=400)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """Handler of last resort: log the traceback, answer 500 with the request id only."""
    logger.error(
        "unhandled error on %s %s (request %s)",
        request.method,
        request.url.path,
        _request_id(request),
        exc_info=exc,
    )
    return error_response(
        request, ApiError("internal error; quote the request id if you report it")
    )


def exception_handlers() -> dict[Any, Any]:
    """The handlers to give `Starlette(exception_handlers=...)`."""
    return {
        ApiError: handle_api_error,
        HTTPException: handle_http_exception,
        StoreUnavailableError: handle_store_unavailable,
        ClientDisconnect: handle_client_disconnect,
        Exception: handle_unexpected,
    }
