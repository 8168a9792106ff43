"""Jobs: ``GET /api/jobs/{jobId}``, ``DELETE /api/jobs/{jobId}`` (cancel), ``GET /api/jobs``,
``POST /api/jobs/lookup`` and ``POST /api/jobs/cancel`` (many jobs, or a campaign)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from queue_services_server import clock
from queue_services_server.api.auth import api_key_of, can_see
from queue_services_server.api.errors import (
    NotCancellableError,
    NotFoundError,
    ValidationFailedError,
)
from queue_services_server.api.request_body import read_json_object
from queue_services_server.api.routes._context import json_response, settings_of, store_of
from queue_services_server.api.schemas import (
    CancelAnswer,
    CancelManyAnswer,
    CancelManyRequest,
    Channel,
    FieldError,
    Identifier,
    JobAnswer,
    JobListAnswer,
    LookupAnswer,
    LookupRequest,
    Status,
    from_ms,
)
from queue_services_server.store.ids import JOB_ID_LENGTH
from queue_services_server.store.jobs import CancelCounts, CancelOutcome, Cursor
from queue_services_server.store.records import JobRecord

#: Longest job id looked up; anything longer cannot be one of ours and is a plain 404.
_MAX_JOB_ID = JOB_ID_LENGTH * 2


def job_answer(record: JobRecord) -> JobAnswer:
    """A record as the API shows it."""
    return JobAnswer(
        jobId=record.id,
        channel=record.channel,  # type: ignore[arg-type]
        status=record.status,  # type: ignore[arg-type]
        workspaceId=record.workspace_id,
        contactId=record.contact_id,
        priority=record.priority,  # type: ignore[arg-type]
        scheduledFor=from_ms(record.scheduled_for),
        createdAt=from_ms(record.created_at),
        updatedAt=from_ms(record.updated_at),
        attempts=record.attempts,
        lastError=record.last_error,
        sentAt=from_ms(record.sent_at) if record.sent_at is not None else None,
        providerMessageId=record.provider_message_id,
        payload=record.payload,
        metadata=record.metadata,
    )


def _job_id(request: Request) -> str:
    job_id: str = request.path_params["job_id"]
    if not job_id or len(job_id) > _MAX_JOB_ID:
        raise NotFoundError(f"no job {job_id[:_MAX_JOB_ID]!r}")
    return job_id


async def get_job(request: Request) -> Response:
    """The job with this id, or 404."""
    return json_response(job_answer(await _visible_job(request)))


async def _visible_job(request: Request) -> JobRecord:
    """The job of the path, if it exists and the key may see it; otherwise 404 (the same 404
    for both, so that a key cannot probe another workspace's job ids)."""
    job_id = _job_id(request)
    record = await store_of(request).get(job_id)
    if record is None or not can_see(request, record.workspace_id):
        raise NotFoundError(f"no job {job_id!r}")
    return record


async def cancel_job(request: Request) -> Response:
    """Cancel a job not yet on its way to the provider: 200, 404, or 409 once it has its send
    slot, or was sent or failed."""
    job_id = _job_id(request)
    if not api_key_of(request).admin:
        # A job's workspace never changes, so checking before cancelling is race-free.
        await _visible_job(request)
    outcome, record = await store_of(request).cancel(job_id, clock.now_ms())
    if outcome is CancelOutcome.NOT_FOUND or record is None:
        raise NotFoundError(f"no job {job_id!r}")
    if outcome is CancelOutcome.NOT_CANCELLABLE:
        detail = " and on its way to the provider" if record.status == "PROCESSING" else ""
        raise NotCancellableError(
            f"job {job_id!r} is {record.status}{detail} and can no longer be cancelled"
        )
    return json_response(CancelAnswer(jobId=record.id))


async def job_resource(request: Request) -> Response:
    """``GET`` (read) or ``DELETE`` (cancel) one job."""
    if request.method == "DELETE":
        return await cancel_job(request)
    return await get_job(request)


class ListQuery(BaseModel):
    """Query parameters of ``GET /api/jobs``."""

    # Unknown parameters are refused, like unknown body fields: a misspelt `limt` or `stauts`
    # would otherwise be silently ignored.
    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    #: Required with an admin key; a workspace key lists its own workspace when it is omitted.
    workspace_id: Identifier | None = Field(default=None, alias="workspaceId")
    status: Status | None = None
    channel: Channel | None = None
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=200)


async def list_jobs(request: Request) -> Response:
    """One page of a workspace's jobs, newest first."""
    params: dict[str, Any] = dict(request.query_params)
    try:
        query = ListQuery.model_validate(params)
        cursor = Cursor.decode(query.cursor) if query.cursor else None
    except ValidationError as exc:
        raise ValidationFailedError.from_pydantic(exc) from exc
    except ValueError as exc:
        raise ValidationFailedError(f"cursor: {exc}", field="cursor") from exc
    workspace_id = query.workspace_id or api_key_of(request).workspace_id
    if workspace_id is None:
        raise ValidationFailedError(
            "workspaceId: is required (with an admin key)",
            field="workspaceId",
            errors=[FieldError(field="workspaceId", message="is required", type="missing")],
        )
    if not can_see(request, workspace_id):
        raise NotFoundError(f"no workspace {workspace_id!r}")
    records, next_cursor = await store_of(request).list_workspace_jobs(
        workspace_id,
        limit=query.limit,
        status=query.status,
        channel=query.channel,
        cursor=cursor,
    )
    answer = JobListAnswer(
        jobs=[job_answer(record) for record in records],
        nextCursor=next_cursor.encode() if next_cursor else None,
    )
    return json_response(answer)


async def lookup_jobs(request: Request) -> Response:
    """Many jobs in one request and one Redis round trip (for reconciling trackers)."""
    data = await read_json_object(request, max_bytes=settings_of(request).max_body_bytes)
    try:
        body = LookupRequest.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError.from_pydantic(exc) from exc
    records = [
        # Another workspace's job is reported missing, exactly like one that does not exist.
        record if record is not None and can_see(request, record.workspace_id) else None
        for record in await store_of(request).get_many(body.job_ids)
    ]
    answer = LookupAnswer(
        jobs=[job_answer(record) for record in records if record is not None],
        missing=[
            job_id for job_id, record in zip(body.job_ids, records, strict=True) if record is None
        ],
    )
    return json_response(answer)


async def cancel_jobs(request: Request) -> Response:
    """Cancel many jobs, or every job of a campaign, that are not on their way to the provider
    yet; answers how many had each outcome."""
    data = await read_json_object(request, max_bytes=settings_of(request).max_body_bytes)
    try:
        body = CancelManyRequest.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError.from_pydantic(exc) from exc
    store, now = store_of(request), clock.now_ms()
    if body.job_ids is not None:
        # A workspace key cancels its own jobs only: another's count as not found.
        key_workspace = None if api_key_of(request).admin else api_key_of(request).workspace_id
        ids = list(dict.fromkeys(body.job_ids))  # a repeated id is one job
        counts = CancelCounts.of(await store.cancel_many(ids, now, workspace_id=key_workspace))
    else:
        workspace_id, campaign_id = body.workspace_id or "", body.campaign_id or ""
        if not can_see(request, workspace_id):
            raise NotFoundError(f"no workspace {workspace_id!r}")
        counts = await store.cancel_campaign(workspace_id, campaign_id, now)
    answer = CancelManyAnswer(
        cancelled=counts.cancelled,
        alreadyCancelled=counts.already_cancelled,
        notCancellable=counts.not_cancellable,
        notFound=counts.not_found,
    )
    return json_response(answer)


def routes() -> list[Route]:
    """The job routes."""
    return [
        Route("/api/jobs", list_jobs, methods=["GET"]),
        Route("/api/jobs/lookup", lookup_jobs, methods=["POST"]),
        Route("/api/jobs/cancel", cancel_jobs, methods=["POST"]),
        # One route for both methods, so a 405 on this path lists them both in Allow.
        Route("/api/jobs/{job_id:str}", job_resource, methods=["GET", "DELETE"]),
    ]
