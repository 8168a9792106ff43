"""What every route needs from the app: the settings and the stores (from the lifespan state)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from queue_services_server.settings import Settings
from queue_services_server.store.guard import StoreGuard
from queue_services_server.store.jobs import JobStore
from queue_services_server.store.metrics import MetricsStore
from queue_services_server.store.outbox import Outbox
from queue_services_server.store.tiers import TierStore


def settings_of(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.state.settings
    return settings


def store_of(request: Request) -> JobStore:
    """The app's job store."""
    store: JobStore = request.state.store
    return store


def guard_of(request: Request) -> StoreGuard:
    """The app's view of how full Redis is."""
    guard: StoreGuard = request.state.guard
    return guard


def metrics_of(request: Request) -> MetricsStore:
    """The app's metrics store."""
    metrics: MetricsStore = request.state.metrics
    return metrics


def tiers_of(request: Request) -> TierStore:
    """The app's store of workspace limits (tiers)."""
    tiers: TierStore = request.state.tiers
    return tiers


def outbox_of(request: Request) -> Outbox:
    """The app's view of the dev outbox."""
    outbox: Outbox = request.state.outbox
    return outbox


def json_response(answer: BaseModel | dict[str, Any], status_code: int = 200) -> Response:
    """A JSON answer from a schema model (by alias, instants as ISO 8601 ms) or a plain dict."""
    data = answer.model_dump(mode="json") if isinstance(answer, BaseModel) else answer
    return Response(orjson.dumps(data), status_code, media_type="application/json")
