"""API authentication: the bootstrap admin key (`QUEUE_SERVICES_ADMIN_KEY`).

When the key is set, every ``/api/`` request must carry ``Authorization: Bearer <key>``; when it
is not, the API is open, which is meant for `queue-services dev` on 127.0.0.1 only.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from queue_services_server.errors import UnauthorizedError, error_response

#: Paths under this prefix need the key; health checks and the OpenAPI document do not.
PROTECTED_PREFIX = "/api/"


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class AdminKeyMiddleware:
    """Answers 401 to ``/api/`` requests without the admin key."""

    def __init__(self, app: ASGIApp, admin_key: str) -> None:
        self.app = app
        self._admin_key = admin_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = bearer_token(request.headers.get("authorization", ""))
        # Constant-time comparison: the time taken must not tell how much of a guess was right.
        if token is None or not hmac.compare_digest(token.encode(), self._admin_key):
            reason = "missing" if token is None else "not valid"
            error = UnauthorizedError(
                f"the API key is {reason}: send it as 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await error_response(request, error)(scope, receive, send)
            return
        await self.app(scope, receive, send)
