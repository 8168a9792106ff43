"""Metrics: ``GET /api/metrics``, ``GET /api/metrics/workspace/{workspaceId}``,
``POST /api/metrics/reset`` (in the JSON shapes the CRM's dashboards read) and ``GET /metrics``
(Prometheus)."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from queue_services_server import clock
from queue_services_server.api.auth import can_see, require_admin
from queue_services_server.api.errors import NotFoundError, ValidationFailedError
from queue_services_server.api.prometheus import exposition
from queue_services_server.api.request_body import read_json_object
from queue_services_server.api.routes._context import json_response, metrics_of, settings_of
from queue_services_server.api.schemas import (
    ChannelMetricsAnswer,
    MetricsAnswer,
    QueueDepth,
    RateLimitDetail,
    RateLimitSummary,
    ResetAnswer,
    ResetRequest,
    WorkspaceCounts,
    WorkspaceMetricsAnswer,
    WorkspaceRateLimit,
    from_ms,
    is_identifier,
)
from queue_services_server.store.metrics import ChannelMetrics

#: Rate-limit details shown per workspace and channel (the most recent ones).
DETAILS_SHOWN = 50


def channel_answer(figures: ChannelMetrics, now_ms: int) -> ChannelMetricsAnswer:
    """One channel's figures in the fields the CRM's dashboards read."""
    c = figures.counters
    return ChannelMetricsAnswer(
        totalProcessed=c["total"],
        batchesProcessed=c["batches"],
        successRate=round(c["success"] / c["total"] * 100, 2) if c["total"] else 0.0,
        avgProcessingTime=round(c["batchMs"] / c["batches"], 1) if c["batches"] else 0.0,
        throughput=figures.throughput(now_ms),
        rateExceededCount=c["rateLimited"],
        lastProcessedTime=from_ms(figures.last_processed_ms) if figures.last_processed_ms else None,
        total=c["total"],
        success=c["success"],
        failed=c["failed"],
        rateLimited=c["rateLimited"],
        retried=c["retried"],
        workspaces={
            workspace: WorkspaceCounts(
                total=counts.get("total", 0),
                success=counts.get("success", 0),
                failed=counts.get("failed", 0),
                rateLimited=counts.get("rateLimited", 0),
            )
            for workspace, counts in sorted(figures.workspaces.items())
        },
        queue=QueueDepth(**figures.depth),
    )


async def get_metrics(request: Request) -> Response:
    """Every channel's figures, the workspaces' rate-limit hits, and the queue depths (admin)."""
    require_admin(request)
    now = clock.now_ms()
    figures = await metrics_of(request).read(now)
    rate_limits: dict[str, dict[str, RateLimitSummary]] = {}
    for channel, channel_figures in figures.items():
        for workspace, counts in channel_figures.rate_limits.items():
            last = counts.get("last")
            rate_limits.setdefault(workspace, {})[channel] = RateLimitSummary(
                count=counts.get("count", 0), lastExceeded=from_ms(last) if last else None
            )
    answer = MetricsAnswer(
        sms=channel_answer(figures["sms"], now),
        email=channel_answer(figures["email"], now),
        workspaceRateLimits=rate_limits,  # type: ignore[arg-type]
        timestamp=from_ms(now),
    )
    return json_response(answer)


async def get_workspace_metrics(request: Request) -> Response:
    """One workspace's provider rate-limit hits, per channel."""
    workspace_id: str = request.path_params["workspace_id"]
    if not is_identifier(workspace_id) or not can_see(request, workspace_id):
        raise NotFoundError(f"no workspace {workspace_id[:128]!r}")
    store = metrics_of(request)
    counts = await store.rate_limit_counts(workspace_id)
    channels = {}
    for channel, (count, last) in counts.items():
        events = await store.rate_events(workspace_id, channel, DETAILS_SHOWN)
        channels[channel] = WorkspaceRateLimit(
            count=count,
            lastExceeded=from_ms(last) if last else None,
            details=[
                RateLimitDetail(
                    timestamp=from_ms(int(event["timestamp"])),
                    batchSize=int(event["batchSize"]),
                    errorMessage=str(event["errorMessage"]),
                )
                for event in events
            ],
        )
    answer = WorkspaceMetricsAnswer(
        workspaceId=workspace_id,
        sms=channels["sms"],
        email=channels["email"],
        timestamp=from_ms(clock.now_ms()),
    )
    return json_response(answer)


async def reset_metrics(request: Request) -> Response:
    """Reset figures: of one channel (`type`), one workspace (`workspaceId`), both, or all
    (admin)."""
    require_admin(request)
    data = await read_json_object(request, max_bytes=settings_of(request).max_body_bytes)
    try:
        body = ResetRequest.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError.from_pydantic(exc) from exc
    await metrics_of(request).reset(body.type, body.workspace_id)
    return json_response(ResetAnswer(type=body.type, workspaceId=body.workspace_id))


async def prometheus_metrics(request: Request) -> Response:
    """The Prometheus text exposition of the same figures."""
    figures = await metrics_of(request).read(clock.now_ms())
    body, content_type = exposition(figures)
    return Response(body, 200, media_type=content_type)


def routes() -> list[Route]:
    """The metrics routes."""
    return [
        Route("/api/metrics", get_metrics, methods=["GET"]),
        Route("/api/metrics/workspace/{workspace_id:str}", get_workspace_metrics, methods=["GET"]),
        Route("/api/metrics/reset", reset_metrics, methods=["POST"]),
        Route("/metrics", prometheus_metrics, methods=["GET"]),
    ]
