"""The dev outbox: ``GET /api/outbox``, the messages the ``outbox`` provider "sent"."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from queue_services_server.api.auth import require_admin
from queue_services_server.api.errors import ValidationFailedError
from queue_services_server.api.routes._context import json_response, outbox_of
from queue_services_server.api.schemas import Channel, OutboxAnswer


class OutboxQuery(BaseModel):
    """Query parameters of ``GET /api/outbox``."""

    # Unknown parameters are refused, like unknown body fields: a misspelt `limt` or `stauts`
    # would otherwise be silently ignored.
    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    channel: Channel = "sms"
    limit: int = Field(default=50, ge=1, le=1000)


async def list_outbox(request: Request) -> Response:
    """The newest messages of one channel's outbox (admin: it holds every workspace's)."""
    require_admin(request)
    try:
        query = OutboxQuery.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise ValidationFailedError.from_pydantic(exc) from exc
    messages = await outbox_of(request).latest(query.channel, query.limit)
    return json_response(OutboxAnswer(channel=query.channel, messages=messages))


def routes() -> list[Route]:
    """The outbox route."""
    return [Route("/api/outbox", list_outbox, methods=["GET"])]
