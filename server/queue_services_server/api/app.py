"""create_app(settings): the Starlette application, its routes, middleware and lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from queue_services_server.api import errors
from queue_services_server.api.auth import ApiKeyMiddleware
from queue_services_server.api.board.routes import create_board
from queue_services_server.api.openapi import build_openapi
from queue_services_server.api.request_id import RequestIdMiddleware
from queue_services_server.api.routes import (
    health,
    jobs,
    keys,
    metrics,
    outbox,
    schedule,
    workspaces,
)
from queue_services_server.api.routes._context import json_response
from queue_services_server.settings import Settings
from queue_services_server.store.api_keys import ApiKeyStore
from queue_services_server.store.connection import RedisClient, connect
from queue_services_server.store.guard import StoreGuard
from queue_services_server.store.jobs import JobStore
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.metrics import MetricsStore
from queue_services_server.store.operations import OperatorStore
from queue_services_server.store.outbox import Outbox
from queue_services_server.store.tiers import TierStore

logger = logging.getLogger("queue_services_server")


def create_app(settings: Settings, *, redis: RedisClient | None = None) -> Starlette:
    """Build the API application.

    Args:
        settings: the configuration; `settings.redis_url` is used unless `redis` is given.
        redis: an existing client to use instead (the caller then closes it).

    Raises:
        ValueError: if neither `redis` nor `settings.redis_url` is given.
    """
    if redis is None and not settings.redis_url:
        raise ValueError("set REDIS_URL (or run `queue-services dev`, which starts its own Redis)")
    openapi = build_openapi(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        client = redis if redis is not None else connect(settings.redis_url or "")
        try:
            keys = KeySpace(settings.redis_prefix)
            # What exists now (modules, the app, settings) lives as long as the process: out of
            # the cyclic collector's sight, its full collections are shorter pauses for the
            # requests in flight.
            gc.freeze()
            yield {
                "api_keys": ApiKeyStore(client, keys, cache_ms=settings.api_key_cache_ms),
                "settings": settings,
                "store": JobStore(client, keys),
                "guard": StoreGuard(client, keys),
                "metrics": MetricsStore(client, keys),
                "operator": OperatorStore(client, keys),
                "outbox": Outbox(client, keys),
                "tiers": TierStore(client, keys),
            }
        finally:
            if redis is None:
                await client.aclose()

    async def openapi_json(request: Request) -> Response:
        return json_response(openapi)

    middleware = [Middleware(RequestIdMiddleware), Middleware(ApiKeyMiddleware, settings=settings)]
    return Starlette(
        routes=[
            *schedule.routes(),
            *jobs.routes(),
            *keys.routes(),
            *outbox.routes(),
            *metrics.routes(),
            *workspaces.routes(),
            *health.routes(),
            Route("/openapi.json", openapi_json, methods=["GET"]),
            Mount("/admin/queues", create_board(settings)),
        ],
        middleware=middleware,
        exception_handlers=errors.exception_handlers(),
        lifespan=lifespan,
    )
