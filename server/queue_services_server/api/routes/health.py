"""Health checks: ``GET /health`` (liveness) and ``GET /ready`` (Redis reachable)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from queue_services_server.api.routes._context import json_response, store_of
from queue_services_server.api.schemas import HealthAnswer, ReadyAnswer
from queue_services_server.store.connection import StoreUnavailableError


async def health(request: Request) -> Response:
    """200 while the process serves requests; checks nothing else, so a Redis outage does not
    get the server restarted by its orchestrator."""
    return json_response(HealthAnswer())


async def ready(request: Request) -> Response:
    """200 when Redis answers a PING, else 503: take the instance out of the load balancer."""
    try:
        await store_of(request).ping()
    except StoreUnavailableError as exc:
        return json_response(ReadyAnswer(status="unavailable", redis=str(exc)), 503)
    return json_response(ReadyAnswer(status="ready", redis="ok"))


def routes() -> list[Route]:
    """The health routes."""
    return [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
    ]
