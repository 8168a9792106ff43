"""API authentication and what each key may reach.

Every ``/api/`` request carries ``Authorization: Bearer <key>``. The key is either the bootstrap
admin key (``QUEUE_SERVICES_ADMIN_KEY``) or one stored in Redis (``store/api_keys.py``): an admin
key, which reaches everything, or a workspace key, which reaches its own workspace only. The
middleware checks the key, counts the request against the key's rate limit and leaves the key in
the request's state; routes then ask `require_admin`, `require_own_workspace` or `can_see`.

A workspace key asking for another workspace's job, listing or metrics gets the same 404 as for
something that does not exist, so that a key cannot learn what other workspaces hold. Scheduling
for another workspace is a 403: the caller named the workspace itself, nothing is revealed.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from queue_services_server.api.errors import (
    ForbiddenError,
    TooManyRequestsError,
    UnauthorizedError,
    error_response,
    handle_store_unavailable,
)
from queue_services_server.settings import Settings
from queue_services_server.store.api_keys import ApiKey, ApiKeyStore
from queue_services_server.store.connection import StoreUnavailableError

#: Paths under this prefix need a key; health checks, /metrics and the OpenAPI document do not.
PROTECTED_PREFIX = "/api/"

_HOW_TO_SEND = "send it as 'Authorization: Bearer <key>'"


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class ApiKeyMiddleware:
    """Answers 401 to ``/api/`` requests without a valid key and 429 above the key's rate."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self._bootstrap = (
            settings.admin_key.get_secret_value() if settings.admin_key is not None else None
        )
        self._limit = settings.api_rate_limit
        self._window_ms = settings.api_rate_window_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            key = await self._authenticate(request)
        except (UnauthorizedError, TooManyRequestsError) as error:
            await error_response(request, error)(scope, receive, send)
            return
        except StoreUnavailableError as exc:
            # The same 503 (and log line) as anywhere else Redis is away.
            await (await handle_store_unavailable(request, exc))(scope, receive, send)
            return
        scope.setdefault("state", {})["api_key"] = key
        await self.app(scope, receive, send)

    async def _authenticate(self, request: Request) -> ApiKey:
        token = bearer_token(request.headers.get("authorization", ""))
        if token is None:
            raise UnauthorizedError(
                f"an API key is required: {_HOW_TO_SEND}",
                headers={"WWW-Authenticate": "Bearer"},
            )
        store: ApiKeyStore = request.state.api_keys
        result = await store.authenticate(
            token, bootstrap_key=self._bootstrap, limit=self._limit, window_ms=self._window_ms
        )
        if result.key is None:
            raise UnauthorizedError(
                f"the API key is not valid (malformed, unknown or revoked): {_HOW_TO_SEND}",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if self._limit and result.requests_in_window > self._limit:
            retry_after = max(1, math.ceil(result.window_left_ms / 1000))
            raise TooManyRequestsError(
                f"this API key made more than {self._limit} requests in "
                f"{self._window_ms} ms; retry after {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
        return result.key


def api_key_of(request: Request) -> ApiKey:
    """The key the request was made with (set by `ApiKeyMiddleware`)."""
    key: ApiKey = request.state.api_key
    return key


def require_admin(request: Request) -> ApiKey:
    """The request's key, if it is an admin key; otherwise 403."""
    key = api_key_of(request)
    if not key.admin:
        raise ForbiddenError(
            f"{request.method} {request.url.path} needs an admin key; this key is scoped to "
            f"workspace {key.workspace_id!r}"
        )
    return key


def require_own_workspace(request: Request, workspace_id: str) -> None:
    """403 unless the key may act for `workspace_id` (used where the caller names it)."""
    key = api_key_of(request)
    if not key.admin and key.workspace_id != workspace_id:
        raise ForbiddenError(
            f"this API key is scoped to workspace {key.workspace_id!r} and cannot act for "
            f"workspace {workspace_id!r}",
            field="workspaceId",
        )


def can_see(request: Request, workspace_id: str) -> bool:
    """Whether the key may see `workspace_id`'s jobs and figures (routes answer 404 if not)."""
    key = api_key_of(request)
    return key.admin or key.workspace_id == workspace_id
