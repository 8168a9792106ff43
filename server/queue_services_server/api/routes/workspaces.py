"""Workspace limits (tiers): ``GET`` and ``PUT /api/workspaces/{workspaceId}/limits``, a
workspace's own limit per channel, set at run time, and how much of each channel it uses now."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from queue_services._limits import MAX_IDENTIFIER_CHARS
from queue_services_server.api.auth import can_see, require_admin
from queue_services_server.api.errors import NotFoundError, ValidationFailedError
from queue_services_server.api.request_body import read_json_object
from queue_services_server.api.routes._context import (
    json_response,
    metrics_of,
    settings_of,
    tiers_of,
)
from queue_services_server.api.schemas import (
    ChannelLimitsAnswer,
    FieldError,
    LimitsRequest,
    RateLimitSummary,
    WorkspaceLimitsAnswer,
    from_ms,
    is_identifier,
)
from queue_services_server.store.records import CHANNELS

logger = logging.getLogger("queue_services_server")

_ID_RULE = (
    f"must be 1 to {MAX_IDENTIFIER_CHARS} characters of letters, digits and . _ : @ + -, "
    "starting with a letter or digit"
)


async def limits_answer(request: Request, workspace_id: str) -> WorkspaceLimitsAnswer:
    """The workspace's limits and what it uses of each channel now.

    The channel's limit and the workspace's provider account come from this server's settings,
    which must therefore be the workers' (they are, when both read the same environment).
    """
    settings = settings_of(request)
    usage = await tiers_of(request).usage(
        workspace_id,
        accounts={ch: settings.provider_account(ch, workspace_id) for ch in CHANNELS},
        channel_limits={ch: settings.rate_limit(ch) for ch in CHANNELS},
    )
    hits = await metrics_of(request).rate_limit_counts(workspace_id)
    channels = {}
    for channel in CHANNELS:
        figures = usage[channel]
        count, last = hits[channel]
        held = figures.held_until_ms is not None
        full = figures.limit is not None and (figures.used or 0) >= figures.limit
        channels[channel] = ChannelLimitsAnswer(
            limit=figures.limit,
            channelLimit=settings.rate_limit(channel) or None,
            usedLastSecond=figures.used,
            throttled=held or full,
            heldUntil=from_ms(figures.held_until_ms) if figures.held_until_ms else None,
            backlog=figures.backlog,
            rateLimitHits=RateLimitSummary(
                count=count, lastExceeded=from_ms(last) if last else None
            ),
        )
    return WorkspaceLimitsAnswer(
        workspaceId=workspace_id,
        sms=channels["sms"],
        email=channels["email"],
        timestamp=from_ms(usage["sms"].now_ms),
    )


async def get_limits(request: Request) -> Response:
    """The workspace's limits and usage (admin, or the workspace's own key)."""
    workspace_id: str = request.path_params["workspace_id"]
    if not is_identifier(workspace_id) or not can_see(request, workspace_id):
        # Another workspace's limits answer as one that does not exist (see api/auth.py).
        raise NotFoundError(f"no workspace {workspace_id[:MAX_IDENTIFIER_CHARS]!r}")
    return json_response(await limits_answer(request, workspace_id))


async def put_limits(request: Request) -> Response:
    """Set or remove the workspace's own limits (admin). Every worker follows the change at its
    next pacing call: the pacer and the claim read the limits from Redis on every call."""
    actor = require_admin(request)
    workspace_id: str = request.path_params["workspace_id"]
    if not is_identifier(workspace_id):
        # A write names the workspace it creates limits for: a bad id is bad input, not absent.
        raise ValidationFailedError(
            f"workspaceId: {_ID_RULE}",
            field="workspaceId",
            errors=[FieldError(field="workspaceId", message=_ID_RULE, type="value_error")],
        )
    data = await read_json_object(request, max_bytes=settings_of(request).max_body_bytes)
    try:
        body = LimitsRequest.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError.from_pydantic(exc) from exc
    changes = body.changes()
    if changes:
        await tiers_of(request).set(workspace_id, changes)
        # Who changed what: a tier decides how fast a customer's messages go.
        logger.info(
            "workspace %s limits %s set by key %s",
            workspace_id,
            ", ".join(f"{ch}={'removed' if n is None else n}" for ch, n in changes.items()),
            actor.id,
        )
    return json_response(await limits_answer(request, workspace_id))


async def limits_resource(request: Request) -> Response:
    """``GET`` (read) or ``PUT`` (set) a workspace's limits."""
    if request.method == "PUT":
        return await put_limits(request)
    return await get_limits(request)


def routes() -> list[Route]:
    """The workspace routes."""
    return [
        # One route for both methods, so a 405 on this path lists them both in Allow.
        Route("/api/workspaces/{workspace_id:str}/limits", limits_resource, methods=["GET", "PUT"]),
    ]
