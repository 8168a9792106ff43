"""The board's sessions and the protections around them: the signed session cookie, the check that
its admin key still exists, CSRF tokens on every form, and the security headers of every page.

An operator logs in with an admin key once and gets a signed, HttpOnly, SameSite=Strict cookie
(``qs_board``) scoped to /admin/queues; the session keeps the key's id, never the key, and each
request checks that the key still exists, so revoking a key logs its sessions out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from queue_services_server.settings import Settings
from queue_services_server.store.api_keys import BOOTSTRAP_KEY_ID, ApiKeyStore

#: Seconds a board session lasts.
SESSION_S = 8 * 3600

#: The session cookie's name.
COOKIE = "qs_board"

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class SecurityHeaders:
    """Adds the board's security headers to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += [
                    (k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


def logged_in(request: Request) -> bool:
    """Whether this request comes from a logged-in operator whose key still exists."""
    # Set by `SessionCheck` for this request: a session of a revoked key is not logged in.
    return bool(request.scope.get("board_logged_in"))


def start_session(request: Request, key_id: str) -> None:
    """Log the operator in as the admin key `key_id` (a new session and CSRF token)."""
    request.session.clear()
    request.session.update(key=key_id, csrf=secrets.token_urlsafe(24))
    request.scope["board_logged_in"] = True


def end_session(request: Request) -> None:
    """Log the operator out."""
    request.session.clear()


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use), for the forms of a page."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


async def checked_form(request: Request) -> FormData:
    """The POSTed form, after checking the operator is logged in and the CSRF token matches."""
    if not logged_in(request):
        raise HTTPException(401, "log in first")
    form = await request.form()
    sent = str(form.get("csrf", ""))
    if not hmac.compare_digest(sent.encode(), csrf_token(request).encode()):
        raise HTTPException(403, "this form has expired; reload the page and try again")
    return form


async def _check_session(request: Request) -> None:
    """Whether the session's admin key still exists (revoking a key ends its board sessions)."""
    key_id = request.session.get("key")
    still_valid = False
    if key_id == BOOTSTRAP_KEY_ID:
        settings: Settings = request.state.settings
        still_valid = settings.admin_key is not None
    elif isinstance(key_id, str):
        store: ApiKeyStore = request.state.api_keys
        still_valid = await store.is_admin(key_id)
    if not still_valid and key_id is not None:
        request.session.clear()
    request.scope["board_logged_in"] = still_valid


class SessionCheck:
    """Looks up, once per request, whether the session's admin key is still valid."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Static files need no session: no Redis lookup for the stylesheet.
        if scope["type"] == "http" and "/static/" not in scope["path"]:
            await _check_session(Request(scope, receive))
        await self.app(scope, receive, send)


def session_secret(settings: Settings) -> str:
    """The key that signs session cookies: BOARD_SESSION_SECRET, or one derived from the
    bootstrap admin key, so that every API server signs sessions alike; with neither, a fresh
    secret per process (sessions end on restart)."""
    if settings.board_session_secret is not None:
        return settings.board_session_secret.get_secret_value()
    if settings.admin_key is None:
        return secrets.token_urlsafe(32)
    key = settings.admin_key.get_secret_value().encode()
    return hmac.new(key, b"queue-services board session", hashlib.sha256).hexdigest()


def session_middleware(settings: Settings) -> list[Middleware]:
    """The board's middleware, outermost first: security headers, the signed session, the
    check of its key."""
    return [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=session_secret(settings),
            session_cookie=COOKIE,
            path="/admin/queues",
            max_age=SESSION_S,
            same_site="strict",
            https_only=settings.board_secure_cookie,
        ),
        Middleware(SessionCheck),
    ]
