"""Scheduling: ``POST /api/schedule-{sms,email}`` and their ``/bulk`` forms."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from queue_services_server import clock
from queue_services_server.api import intake
from queue_services_server.api.auth import api_key_of, require_own_workspace
from queue_services_server.api.errors import (
    ApiError,
    BacklogFullError,
    CallbacksBackloggedError,
    IdempotencyConflictError,
    StoreFullError,
    ValidationFailedError,
)
from queue_services_server.api.request_body import read_json_object
from queue_services_server.api.routes._context import (
    guard_of,
    json_response,
    settings_of,
    store_of,
)
from queue_services_server.api.schemas import (
    BulkAnswer,
    BulkItemAnswer,
    BulkRequest,
    EmailMessage,
    FieldError,
    ScheduleAnswer,
    SmsMessage,
    ValidationContext,
    from_ms,
)
from queue_services_server.store.jobs import Created, CreateOutcome
from queue_services_server.store.records import JobRecord

MessageModel = type[SmsMessage] | type[EmailMessage]
Endpoint = Callable[[Request], Awaitable[Response]]


def _context(request: Request, now: int) -> ValidationContext:
    settings = settings_of(request)
    return ValidationContext(
        now_ms=now,
        max_delay_ms=settings.max_delay_ms,
        max_metadata_bytes=settings.max_metadata_bytes,
        callback_hosts=settings.callback_hosts,
        max_sms_segments=settings.max_sms_segments,
    )


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not intake.valid_idempotency_key(key):
        raise ValidationFailedError(
            "Idempotency-Key: must be 1 to 255 printable ASCII characters",
            field="Idempotency-Key",
            errors=[
                FieldError(
                    field="Idempotency-Key",
                    message="must be 1 to 255 printable ASCII characters",
                    type="value_error",
                )
            ],
        )
    return key


def _validate(
    model: MessageModel, data: Any, context: ValidationContext
) -> SmsMessage | EmailMessage:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ValidationFailedError.from_pydantic(exc) from exc


def _require_own_workspaces(request: Request, items: list[Any]) -> None:
    """403 for the whole bulk request if any item names a workspace the key may not act for."""
    own = api_key_of(request).workspace_id
    if own is None:
        return
    for item in items:
        workspace_id = item.get("workspaceId") if isinstance(item, dict) else None
        if isinstance(workspace_id, str) and workspace_id != own:
            require_own_workspace(request, workspace_id)


def _backlog_full(workspace_id: str, limit: int) -> BacklogFullError:
    return BacklogFullError(
        f"workspace {workspace_id!r} already has {limit} messages waiting or being sent "
        "(MAX_WORKSPACE_BACKLOG); schedule more once some have gone"
    )


#: Seconds a client is told to wait when callbacks are backlogged.
CALLBACKS_RETRY_AFTER_S = 5


async def _check_room(request: Request, records: list[JobRecord]) -> None:
    """Refuse new jobs while Redis is nearly full, or, for jobs with a callback URL, while too
    many callbacks wait to be delivered (`store/guard.py` says why)."""
    if not records:
        return
    settings = settings_of(request)
    pressure = await guard_of(request).pressure()
    share = settings.memory_guard_share
    if share and pressure.max_memory and pressure.memory_share >= share:
        raise StoreFullError(
            f"Redis is {pressure.memory_share:.0%} full (MEMORY_GUARD_SHARE is {share:.0%}): "
            "new jobs are refused until it has room; the jobs already accepted are still sent"
        )
    bound = settings.max_callback_backlog
    if (
        bound
        and pressure.callbacks_waiting >= bound
        and any(record.callback_url for record in records)
    ):
        raise CallbacksBackloggedError(
            f"{pressure.callbacks_waiting:,} status callbacks wait to be delivered "
            f"(MAX_CALLBACK_BACKLOG is {bound:,}): is the callback URL answering? New jobs "
            "with a callback URL are refused until they are delivered",
            headers={"Retry-After": str(CALLBACKS_RETRY_AFTER_S)},
        )


def _conflict() -> IdempotencyConflictError:
    return IdempotencyConflictError(
        "this Idempotency-Key was already used for a different message; "
        "use a new key for a new message"
    )


def _answer(created: Created) -> ScheduleAnswer:
    record: JobRecord = created.record
    return ScheduleAnswer(
        jobId=record.id,
        status=record.status,  # type: ignore[arg-type]
        channel=record.channel,  # type: ignore[arg-type]
        workspaceId=record.workspace_id,
        scheduledFor=from_ms(record.scheduled_for),
        duplicate=created.outcome is CreateOutcome.DUPLICATE,
    )


def _single(channel: str, model: MessageModel) -> Endpoint:
    async def schedule(request: Request) -> Response:
        settings = settings_of(request)
        key = _idempotency_key(request)
        data = await read_json_object(request, max_bytes=settings.max_body_bytes)
        now = clock.now_ms()
        message = _validate(model, data, _context(request, now))
        require_own_workspace(request, message.workspace_id)
        record = intake.new_record(
            message,
            channel=channel,
            now=now,
            idempotency_key=key,
            callback_url=settings.workspace_callback_urls.get(message.workspace_id),
        )
        await _check_room(request, [record])
        [created] = await store_of(request).create(
            [record], max_backlog=settings.max_workspace_backlog
        )
        if created.outcome is CreateOutcome.CONFLICT:
            raise _conflict()
        if created.outcome is CreateOutcome.BACKLOG_FULL:
            raise _backlog_full(record.workspace_id, settings.max_workspace_backlog)
        status_code = 201 if created.outcome is CreateOutcome.CREATED else 200
        return json_response(_answer(created), status_code)

    schedule.__name__ = f"schedule_{channel}"
    return schedule


def _bulk(channel: str, model: MessageModel) -> Endpoint:
    async def schedule_bulk(request: Request) -> Response:
        settings = settings_of(request)
        key = _idempotency_key(request)
        data = await read_json_object(request, max_bytes=settings.max_bulk_body_bytes)
        try:
            bulk = BulkRequest.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailedError.from_pydantic(exc) from exc
        if len(bulk.messages) > settings.max_bulk_messages:
            limit = settings.max_bulk_messages
            raise ValidationFailedError(
                f"messages: at most {limit} messages per request (got {len(bulk.messages)}); "
                "split the list",
                field="messages",
                errors=[
                    FieldError(
                        field="messages",
                        message=f"at most {limit} messages per request",
                        type="too_long",
                    )
                ],
            )
        _require_own_workspaces(request, bulk.messages)
        now = clock.now_ms()
        context = _context(request, now)
        results: list[BulkItemAnswer | None] = [None] * len(bulk.messages)
        records: list[JobRecord] = []
        positions: list[int] = []
        for index, item in enumerate(bulk.messages):
            try:
                message = _validate(model, item, context)
            except ApiError as exc:
                results[index] = BulkItemAnswer(index=index, success=False, error=exc.detail())
                continue
            # Each item gets its own key, so a retried bulk request maps item to item.
            item_key = None if key is None else f"{key}:{index}"
            records.append(
                intake.new_record(
                    message,
                    channel=channel,
                    now=now,
                    idempotency_key=item_key,
                    callback_url=settings.workspace_callback_urls.get(message.workspace_id),
                )
            )
            positions.append(index)
        await _check_room(request, records)
        stored = await store_of(request).create(records, max_backlog=settings.max_workspace_backlog)
        refused_for_backlog: BacklogFullError | None = None
        for index, created in zip(positions, stored, strict=True):
            if created.outcome is CreateOutcome.CONFLICT:
                results[index] = BulkItemAnswer(
                    index=index, success=False, error=_conflict().detail()
                )
                continue
            if created.outcome is CreateOutcome.BACKLOG_FULL:
                refused_for_backlog = _backlog_full(
                    created.record.workspace_id, settings.max_workspace_backlog
                )
                results[index] = BulkItemAnswer(
                    index=index, success=False, error=refused_for_backlog.detail()
                )
                continue
            answer = _answer(created)
            results[index] = BulkItemAnswer(
                index=index,
                success=True,
                jobId=answer.job_id,
                status=answer.status,
                scheduledFor=answer.scheduled_for,
                duplicate=answer.duplicate,
            )
        final = [result for result in results if result is not None]
        accepted = sum(1 for result in final if result.success)
        if accepted == 0 and refused_for_backlog is not None:
            # Nothing was stored and the backlog is why: the whole request is refused.
            raise refused_for_backlog
        return json_response(
            BulkAnswer(
                success=accepted == len(final),
                total=len(final),
                accepted=accepted,
                rejected=len(final) - accepted,
                results=final,
            )
        )

    schedule_bulk.__name__ = f"schedule_{channel}_bulk"
    return schedule_bulk


def routes() -> list[Route]:
    """The scheduling routes of both channels."""
    routes = []
    for channel, model in (("sms", SmsMessage), ("email", EmailMessage)):
        routes.append(Route(f"/api/schedule-{channel}", _single(channel, model), methods=["POST"]))
        routes.append(
            Route(f"/api/schedule-{channel}/bulk", _bulk(channel, model), methods=["POST"])
        )
    return routes
