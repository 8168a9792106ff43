"""One pure builder per API operation: what to send and what comes back, without sending it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from queue_services._exceptions import InvalidSendTimeError
from queue_services._limits import MAX_LOOKUP_IDS
from queue_services._models import (
    BulkItemResult,
    BulkScheduleResult,
    CancelResult,
    Channel,
    EmailMessage,
    Job,
    JobBatch,
    JobList,
    JobStatus,
    Metrics,
    Priority,
    RateLimitCheck,
    ResetResult,
    ScheduleResult,
    SmsMessage,
    WorkspaceRateLimits,
)

ResultT = TypeVar("ResultT", bound=BaseModel)

#: A delay: milliseconds from now, or a timedelta.
Delay = int | timedelta


@dataclass(frozen=True)
class Operation(Generic[ResultT]):
    """A request to make and the model of its successful answer."""

    method: str
    path: str
    result: type[ResultT]
    json: Any = None
    params: Mapping[str, str | int] | None = None
    #: The caller's own Idempotency-Key; POSTs without one get a generated key.
    idempotency_key: str | None = None


def delay_ms(delay: Delay) -> int:
    """A delay in whole milliseconds; raises InvalidSendTimeError if negative or not a delay."""
    if isinstance(delay, timedelta):
        milliseconds = delay // timedelta(milliseconds=1)
    elif isinstance(delay, int) and not isinstance(delay, bool):
        milliseconds = delay
    else:
        raise InvalidSendTimeError(
            f"delay must be milliseconds (int) or a timedelta, not {type(delay).__name__}"
        )
    if milliseconds < 0:
        raise InvalidSendTimeError(f"delay must not be negative (got {milliseconds} ms)")
    return milliseconds


def _timing(delay: Delay | None, send_at: datetime | None) -> dict[str, Any]:
    if delay is not None and send_at is not None:
        raise InvalidSendTimeError("give either delay or send_at, not both")
    if send_at is not None:
        if send_at.tzinfo is None or send_at.utcoffset() is None:
            raise InvalidSendTimeError(
                "send_at must be timezone-aware, "
                "e.g. datetime(2027, 1, 15, 9, 30, tzinfo=ZoneInfo('Europe/Paris'))"
            )
        return {"sendAt": send_at.isoformat()}
    if delay is not None:
        return {"delay": delay_ms(delay)}
    return {}


def _common(
    *,
    workspace_id: str,
    contact_id: str | None,
    delay: Delay | None,
    send_at: datetime | None,
    priority: Priority | str | None,
    metadata: Mapping[str, Any] | None,
    callback_url: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"workspaceId": workspace_id, **_timing(delay, send_at)}
    if callback_url is not None:
        body["callbackUrl"] = callback_url
    if contact_id is not None:
        body["contactId"] = contact_id
    if priority is not None:
        body["priority"] = str(Priority(priority))
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return body


def schedule_sms(
    phone_number: str,
    message: str,
    *,
    workspace_id: str,
    contact_id: str | None = None,
    delay: Delay | None = None,
    send_at: datetime | None = None,
    priority: Priority | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    callback_url: str | None = None,
) -> Operation[ScheduleResult]:
    """``POST /api/schedule-sms``."""
    body = {"phoneNumber": phone_number, "message": message}
    body |= _common(
        workspace_id=workspace_id,
        contact_id=contact_id,
        delay=delay,
        send_at=send_at,
        priority=priority,
        metadata=metadata,
        callback_url=callback_url,
    )
    return Operation("POST", "/api/schedule-sms", ScheduleResult, body, None, idempotency_key)


def schedule_email(
    to: str,
    subject: str,
    html: str | None = None,
    *,
    text: str | None = None,
    workspace_id: str,
    contact_id: str | None = None,
    delay: Delay | None = None,
    send_at: datetime | None = None,
    priority: Priority | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    callback_url: str | None = None,
) -> Operation[ScheduleResult]:
    """``POST /api/schedule-email``."""
    body: dict[str, Any] = {"to": to, "subject": subject}
    if html is not None:
        body["html"] = html
    if text is not None:
        body["text"] = text
    body |= _common(
        workspace_id=workspace_id,
        contact_id=contact_id,
        delay=delay,
        send_at=send_at,
        priority=priority,
        metadata=metadata,
        callback_url=callback_url,
    )
    return Operation("POST", "/api/schedule-email", ScheduleResult, body, None, idempotency_key)


def _bulk_item(item: SmsMessage | EmailMessage | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, SmsMessage | EmailMessage):
        data = item.model_dump(mode="json", by_alias=True, exclude_none=True)
        if item.delay is not None:
            data["delay"] = delay_ms(item.delay)
        if item.send_at is not None:
            data |= _timing(None, item.send_at)
        return data
    return dict(item)


#: Messages per request of a bulk call: well under the server's default limits (10,000 messages,
#: 32 MiB), small enough that a failed request costs little to retry.
DEFAULT_CHUNK_SIZE = 1000

#: Called after each chunk with (messages done, messages in all).
Progress = Callable[[int, int], None]

#: A multi-request flow: yields each request, receives its answer, returns the final result.
BulkFlow = Generator[Operation[BulkScheduleResult], BulkScheduleResult, BulkScheduleResult]


def bulk_flow(
    channel: str,
    messages: Sequence[SmsMessage | EmailMessage | Mapping[str, Any]],
    *,
    idempotency_key: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: Progress | None = None,
) -> BulkFlow:
    """``POST /api/schedule-{channel}/bulk`` in chunks, as a sans-I/O flow the clients drive.

    Each chunk's Idempotency-Key is ``<key>:<offset>``, made from one key per call, so retrying
    the whole call (or one chunk) never schedules a message twice; the server then applies
    ``:<index>`` per message.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    items = [_bulk_item(item) for item in messages]
    base = idempotency_key or f"qs-{uuid.uuid4().hex}"
    results: list[BulkItemResult] = []
    for start in range(0, len(items), chunk_size):
        answer = yield Operation(
            "POST",
            f"/api/schedule-{channel}/bulk",
            BulkScheduleResult,
            {"messages": items[start : start + chunk_size]},
            None,
            f"{base}:{start}",
        )
        results += [
            item.model_copy(update={"index": start + item.index}) for item in answer.results
        ]
        if on_progress is not None:
            on_progress(len(results), len(items))
    accepted = sum(1 for item in results if item.success)
    return BulkScheduleResult(
        success=accepted == len(results),
        total=len(results),
        accepted=accepted,
        rejected=len(results) - accepted,
        results=results,
    )


def _job_path(job_id: str) -> str:
    if not job_id:
        raise ValueError("job_id must not be empty")
    return f"/api/jobs/{quote(job_id, safe='')}"


def get_job(job_id: str) -> Operation[Job]:
    """``GET /api/jobs/{jobId}``."""
    return Operation("GET", _job_path(job_id), Job)


def cancel_job(job_id: str) -> Operation[CancelResult]:
    """``DELETE /api/jobs/{jobId}``."""
    return Operation("DELETE", _job_path(job_id), CancelResult)


def list_jobs(
    *,
    workspace_id: str,
    status: JobStatus | str | None = None,
    channel: Channel | str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Operation[JobList]:
    """``GET /api/jobs``."""
    params: dict[str, str | int] = {"workspaceId": workspace_id}
    if status is not None:
        params["status"] = str(JobStatus(status))
    if channel is not None:
        params["channel"] = str(Channel(channel))
    if limit is not None:
        params["limit"] = limit
    if cursor is not None:
        params["cursor"] = cursor
    return Operation("GET", "/api/jobs", JobList, params=params)


def get_metrics() -> Operation[Metrics]:
    """``GET /api/metrics``."""
    return Operation("GET", "/api/metrics", Metrics)


def get_workspace_rate_limits(workspace_id: str) -> Operation[WorkspaceRateLimits]:
    """``GET /api/metrics/workspace/{workspaceId}``."""
    if not workspace_id:
        raise ValueError("workspace_id must not be empty")
    path = f"/api/metrics/workspace/{quote(workspace_id, safe='')}"
    return Operation("GET", path, WorkspaceRateLimits)


def reset_metrics(
    *, channel: Channel | str | None = None, workspace_id: str | None = None
) -> Operation[ResetResult]:
    """``POST /api/metrics/reset``."""
    body: dict[str, str] = {}
    if channel is not None:
        body["type"] = str(Channel(channel))
    if workspace_id is not None:
        body["workspaceId"] = workspace_id
    return Operation("POST", "/api/metrics/reset", ResetResult, body)


def rate_limit_check(limits: WorkspaceRateLimits) -> RateLimitCheck:
    """Summarise a workspace's rate-limit hits: is it being limited, how often, last when."""
    return RateLimitCheck(
        workspace_id=limits.workspace_id,
        limited=limits.sms.count > 0 or limits.email.count > 0,
        sms_count=limits.sms.count,
        email_count=limits.email.count,
        last_sms_exceeded=limits.sms.last_exceeded,
        last_email_exceeded=limits.email.last_exceeded,
    )


def get_jobs(job_ids: Sequence[str]) -> Operation[JobBatch]:
    """``POST /api/jobs/lookup``."""
    if not 1 <= len(job_ids) <= MAX_LOOKUP_IDS:
        raise ValueError(f"get_jobs takes 1 to {MAX_LOOKUP_IDS} ids, not {len(job_ids)}")
    return Operation("POST", "/api/jobs/lookup", JobBatch, {"jobIds": list(job_ids)})
