"""One pure builder per API operation: what to send and what comes back, without sending it.

A builder takes a client method's arguments and returns what the call asks of the server: one
request (an `Operation`), or for a call of several round trips a sans-I/O `Flow`, a generator
that yields each request, is sent the model of each answer, and returns the call's result. The
clients turn each builder into a method of each client (`_client.sync_endpoint`,
`_client.async_endpoint`), with the builder's signature and docstring: so a builder's docstring
is the public method's, and says what the call returns once run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeAlias, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from queue_services._config import NOT_GIVEN, NotGiven
from queue_services._exceptions import InvalidSendTimeError
from queue_services._limits import MAX_CANCEL_IDS, MAX_JOB_ID_CHARS, MAX_LOOKUP_IDS
from queue_services._models import (
    BulkCancelResult,
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
    WorkspaceLimits,
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


#: A call of several requests, sans-I/O: yields each `Operation`, is sent the model of its answer,
#: and returns the call's result.
Flow: TypeAlias = Generator[Operation[Any], Any, ResultT]

#: What a builder returns: one request, or a flow of several.
Exchange: TypeAlias = Operation[ResultT] | Flow[ResultT]


def as_flow(exchange: Exchange[ResultT]) -> Flow[ResultT]:
    """`exchange` as a flow, so that the clients drive one kind of thing: a single request is a
    flow that yields it and returns its answer."""
    if isinstance(exchange, Operation):
        return _single(exchange)
    return exchange


def _single(operation: Operation[ResultT]) -> Flow[ResultT]:
    answer: ResultT = yield operation
    return answer


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
    """Schedule an SMS (``POST /api/schedule-sms``).

    Args:
        phone_number: the recipient in E.164 form, e.g. ``"+14155550123"``.
        message: the text: up to 10 SMS segments by default (1,530 GSM-7 characters, 670
            with others), and never over 1,600 characters.
        workspace_id: the workspace (tenant) sending it.
        contact_id: your id of the recipient, kept with the job.
        delay: how long from now: milliseconds (int) or a `timedelta`; at most 366 days by
            default. Default: now.
        send_at: an aware datetime to send at instead (not with `delay`); one already past
            means now.
        priority: ``"high"``, ``"normal"`` (default) or ``"low"``, within the workspace.
        metadata: a JSON object kept with the job and handed to the provider.
        idempotency_key: your own key; by default a new one is made for this call and
            reused on its retries, so a retry never schedules twice.
        callback_url: where the server POSTs this job's status changes, signed (its host
            must be in the server's CALLBACK_ALLOWED_HOSTS); see `CallbackHandler`.

    Returns:
        The job's id, status and due time (`scheduled_for`, an aware UTC datetime);
        `duplicate` is True when `idempotency_key` matched a job scheduled before.

    Raises:
        InvalidSendTimeError: a negative delay, a naive `send_at`, or both given (before any
            request).
        UnprocessableEntityError: the server rejected a field (see `.field`, `.errors`).
        ConflictError: `idempotency_key` was used before for a different message.
        PermissionDeniedError: the API key is another workspace's.
        BacklogFullError: the workspace has as many messages waiting as the server allows.
        APIConnectionError: the server could not be reached, after the retries.

    Example:
        >>> queue.schedule_sms(  # doctest: +SKIP
        ...     "+14155550123", "Your table is ready", workspace_id="ws-1",
        ...     delay=timedelta(minutes=30),  # or delay=1_800_000 (ms)
        ... )
        >>> queue.schedule_sms(  # doctest: +SKIP
        ...     "+14155550123", "See you at 09:30", workspace_id="ws-1",
        ...     send_at=datetime(2027, 1, 15, 8, 0, tzinfo=ZoneInfo("Europe/Paris")),
        ... )
    """
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
    """Schedule an email (``POST /api/schedule-email``).

    Args:
        to: the recipient's address.
        subject: the subject line: one line, at most 998 characters.
        html: the HTML body; give `html`, `text` or both.
        text: a plain-text body.
        workspace_id, contact_id, delay, send_at, priority, metadata, idempotency_key,
        callback_url: as for `schedule_sms` (`delay` in milliseconds or a `timedelta`,
            `send_at` an aware datetime).

    Returns:
        The job's id, status and due time (`scheduled_for`, an aware UTC datetime).

    Raises:
        Same as `schedule_sms`; a missing body is an `UnprocessableEntityError` on ``html``.

    Example:
        >>> queue.schedule_email(  # doctest: +SKIP
        ...     "jane@example.com", "Your invoice", "<p>Attached.</p>", workspace_id="ws-1",
        ...     send_at=datetime(2027, 1, 15, 9, 30, tzinfo=ZoneInfo("Europe/Paris")),
        ... )
    """
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


def _bulk(
    channel: Channel,
    messages: Sequence[SmsMessage | EmailMessage | Mapping[str, Any]],
    idempotency_key: str | None,
    chunk_size: int,
    on_progress: Progress | None,
) -> Flow[BulkScheduleResult]:
    # Each chunk's Idempotency-Key is ``<key>:<offset>``, made from one key per call, so retrying
    # the whole call (or one chunk) never schedules a message twice; the server then applies
    # ``:<index>`` per message.
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    items = [_bulk_item(item) for item in messages]
    base = idempotency_key or f"qs-{uuid.uuid4().hex}"
    results: list[BulkItemResult] = []
    for start in range(0, len(items), chunk_size):
        answer: BulkScheduleResult = yield Operation(
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


def schedule_sms_bulk(
    messages: Sequence[SmsMessage | Mapping[str, Any]],
    *,
    idempotency_key: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: Progress | None = None,
) -> Flow[BulkScheduleResult]:
    """Schedule any number of SMS, sent in chunks of `chunk_size` (``POST
    /api/schedule-sms/bulk``).

    Each message is checked on its own: a bad one is reported in its result, the others are
    scheduled.

    Args:
        messages: `SmsMessage` models, or dicts in the wire form (``phoneNumber``,
            ``message``, ``workspaceId``, ``delay`` in milliseconds, ...).
        idempotency_key: one key for the whole call (chunk ``<key>:<offset>``, message
            ``:<index>``); by default a new one is made, so retrying the call is safe.
        chunk_size: messages per request (default 1,000; the server takes up to 10,000 by
            default).
        on_progress: called after each chunk with (messages done, messages in all).

    Returns:
        One result per message, in order (``index`` counts across chunks): its job, or the error
        that rejected it; `accepted` and `rejected` count them.

    Raises:
        ValueError: `chunk_size` is less than 1.
        InvalidSendTimeError: a message's `delay` is negative or its `send_at` naive.
        UnprocessableEntityError: a request as a whole was refused (more messages than the
            server takes in one).
        APIConnectionError: the server could not be reached, after the retries; chunks sent
            before stay scheduled, and retrying with the same `idempotency_key` is safe.
    """
    return _bulk(Channel.SMS, messages, idempotency_key, chunk_size, on_progress)


def schedule_email_bulk(
    messages: Sequence[EmailMessage | Mapping[str, Any]],
    *,
    idempotency_key: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: Progress | None = None,
) -> Flow[BulkScheduleResult]:
    """Schedule any number of emails, sent in chunks of `chunk_size` (``POST
    /api/schedule-email/bulk``).

    Args:
        messages: `EmailMessage` models, or dicts in the wire form (``to``, ``subject``,
            ``html`` and/or ``text``, ``workspaceId``, ...).
        idempotency_key, chunk_size, on_progress: as for `schedule_sms_bulk`.

    Returns:
        One result per message, in order; see `schedule_sms_bulk`.

    Raises:
        Same as `schedule_sms_bulk`.
    """
    return _bulk(Channel.EMAIL, messages, idempotency_key, chunk_size, on_progress)


def _job_path(job_id: str) -> str:
    if not job_id:
        raise ValueError("job_id must not be empty")
    return f"/api/jobs/{quote(job_id, safe='')}"


def get_job(job_id: str) -> Operation[Job]:
    """The job with this id (``GET /api/jobs/{jobId}``).

    Args:
        job_id: the `job_id` of a `ScheduleResult`.

    Returns:
        The job: its status, due time, attempts, last error, payload and metadata.

    Raises:
        ValueError: `job_id` is empty.
        NotFoundError: there is no such job (or it is another workspace's).
    """
    return Operation("GET", _job_path(job_id), Job)


def cancel_job(job_id: str) -> Operation[CancelResult]:
    """Cancel a job that has not been taken for sending (``DELETE /api/jobs/{jobId}``).

    Cancelling a cancelled job again is fine.

    Args:
        job_id: the `job_id` of a `ScheduleResult`.

    Returns:
        The job's id and its status, CANCELLED.

    Raises:
        ValueError: `job_id` is empty.
        NotFoundError: there is no such job.
        ConflictError: the job is being sent, or was sent or failed.
    """
    return Operation("DELETE", _job_path(job_id), CancelResult)


def _unique_job_ids(job_ids: Sequence[str]) -> list[str]:
    # A str is a Sequence[str] too: "01JOB" would otherwise be five one-letter ids.
    if isinstance(job_ids, str):
        raise TypeError("job_ids must be a sequence of job ids, not one str")
    if not job_ids:
        raise ValueError("cancel_jobs needs at least one job id")
    for index, job_id in enumerate(job_ids):
        if not isinstance(job_id, str) or not 1 <= len(job_id) <= MAX_JOB_ID_CHARS:
            raise ValueError(
                f"job_ids[{index}] must be a job id of 1 to {MAX_JOB_ID_CHARS} characters, "
                f"not {job_id!r}"
            )
    return list(dict.fromkeys(job_ids))


def _cancel_in_chunks(job_ids: list[str]) -> Flow[BulkCancelResult]:
    answers: list[BulkCancelResult] = []
    for start in range(0, len(job_ids), MAX_CANCEL_IDS):
        answer: BulkCancelResult = yield Operation(
            "POST",
            "/api/jobs/cancel",
            BulkCancelResult,
            {"jobIds": job_ids[start : start + MAX_CANCEL_IDS]},
        )
        answers.append(answer)
    return BulkCancelResult(
        success=all(answer.success for answer in answers),
        cancelled=sum(answer.cancelled for answer in answers),
        already_cancelled=sum(answer.already_cancelled for answer in answers),
        not_cancellable=sum(answer.not_cancellable for answer in answers),
        not_found=sum(answer.not_found for answer in answers),
    )


def cancel_jobs(job_ids: Sequence[str]) -> Flow[BulkCancelResult]:
    """Cancel many jobs by id (``POST /api/jobs/cancel``, one request per 10,000 ids).

    Each job that has not been taken for sending is cancelled, and nothing of it is sent
    afterwards; the others are counted by why not. Ids given more than once count once (the
    SDK drops repeats, keeping the first). Up to 10,000 ids go in one request, which the server
    applies as a whole; more are sent in requests of 10,000, one after the other, so a failure
    part-way leaves the earlier requests' jobs cancelled. Calling again with the same ids is
    safe: those jobs then count as `already_cancelled`, which is also how a request retried
    after a lost answer counts them.

    Args:
        job_ids: the jobs' ids (a `ScheduleResult`'s `job_id`), each 1 to 64 characters; any
            number of them.

    Returns:
        The counts, summed over the requests: `cancelled` (by this call), `already_cancelled`
        (CANCELLED before), `not_cancellable` (taken for sending, sent or failed) and
        `not_found` (no such job, or another workspace's: a workspace key cannot tell).

    Raises:
        TypeError: `job_ids` is a single str, not a sequence of ids.
        ValueError: `job_ids` is empty, or an id is not a str of 1 to 64 characters (before
            any request).
        UnprocessableEntityError: the server refused the request (see `.field`).
        APIConnectionError: the server could not be reached, after the retries; the requests
            sent before stay applied.

    Example:
        >>> queue.cancel_jobs([first.job_id, second.job_id]).cancelled  # doctest: +SKIP
        2
    """
    return _cancel_in_chunks(_unique_job_ids(job_ids))


def cancel_campaign(workspace_id: str, campaign_id: str) -> Operation[BulkCancelResult]:
    """Cancel every job of a workspace whose ``metadata["campaignId"]`` is `campaign_id`
    (``POST /api/jobs/cancel``, one request).

    The jobs are the ones scheduled with ``metadata={"campaignId": campaign_id}``: those not yet
    taken for sending are cancelled, and nothing of them is sent afterwards. Jobs scheduled
    after this call are not affected, so stop scheduling the campaign first. Calling again is
    safe: the jobs then count as `already_cancelled`.

    Args:
        workspace_id: the workspace whose jobs to cancel.
        campaign_id: the ``campaignId`` the jobs' metadata holds (compared as a string, exactly).

    Returns:
        The counts: `cancelled` (by this call), `already_cancelled` (CANCELLED before) and
        `not_cancellable` (taken for sending, sent or failed); `not_found` is always 0.

    Raises:
        ValueError: `workspace_id` or `campaign_id` is empty (before any request).
        NotFoundError: the API key is another workspace's.
        UnprocessableEntityError: the server refused a field (see `.field`).
        APIConnectionError: the server could not be reached, after the retries.

    Example:
        >>> result = queue.cancel_campaign("workspace-123", "spring-2026")  # doctest: +SKIP
        >>> result.cancelled, result.not_cancellable  # doctest: +SKIP
        (412, 3)
    """
    if not workspace_id:
        raise ValueError("workspace_id must not be empty")
    if not campaign_id:
        raise ValueError("campaign_id must not be empty")
    body = {"workspaceId": workspace_id, "campaignId": campaign_id}
    return Operation("POST", "/api/jobs/cancel", BulkCancelResult, body)


def list_jobs(
    *,
    workspace_id: str,
    status: JobStatus | str | None = None,
    channel: Channel | str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Operation[JobList]:
    """One page of a workspace's jobs, newest first (``GET /api/jobs``).

    Args:
        workspace_id: whose jobs.
        status: only jobs in this status.
        channel: only ``"sms"`` or ``"email"`` jobs.
        limit: jobs per page, 1 to 500 (server default 50).
        cursor: `next_cursor` of the previous page.

    Returns:
        The jobs and the cursor of the next page (None on the last page).

    Raises:
        UnprocessableEntityError: a filter or the limit is out of range.
    """
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


def get_jobs(job_ids: Sequence[str]) -> Operation[JobBatch]:
    """Many jobs in one request (``POST /api/jobs/lookup``).

    Args:
        job_ids: 1 to 500 job ids.

    Returns:
        The jobs found, in the order asked, and the ids not found in `missing`.

    Raises:
        ValueError: no ids, or more than 500.
    """
    if not 1 <= len(job_ids) <= MAX_LOOKUP_IDS:
        raise ValueError(f"get_jobs takes 1 to {MAX_LOOKUP_IDS} ids, not {len(job_ids)}")
    return Operation("POST", "/api/jobs/lookup", JobBatch, {"jobIds": list(job_ids)})


def get_metrics() -> Operation[Metrics]:
    """Delivery figures per channel and workspace, the queue depths, and every workspace's
    provider rate-limit hits (``GET /api/metrics``; an admin key).

    Returns:
        `sms` and `email`: jobs sent, failed, retried and rate limited, `success_rate` (percent
        of finished jobs sent), `avg_processing_time` (ms per batch), `throughput` (jobs
        finished per second over the last minute), the same counts per workspace, and the queue
        (jobs not yet due, due, being sent); `workspace_rate_limits`, per workspace and channel,
        how often and when last a provider rate-limited it; `timestamp`, when it was read.

    Raises:
        PermissionDeniedError: the API key is a workspace's, not an admin key.
    """
    return Operation("GET", "/api/metrics", Metrics)


def _workspace_path(workspace_id: str, rest: str) -> str:
    if not workspace_id:
        raise ValueError("workspace_id must not be empty")
    return rest.format(quote(workspace_id, safe=""))


def get_workspace_rate_limits(workspace_id: str) -> Operation[WorkspaceRateLimits]:
    """A workspace's provider rate-limit hits on each channel, the latest in detail (``GET
    /api/metrics/workspace/{workspaceId}``).

    Args:
        workspace_id: the workspace.

    Returns:
        For `sms` and `email`: how many hits (`count`), the last one's time (`last_exceeded`,
        an aware UTC datetime, or None), and the latest 50 hits, newest first, each with its
        `timestamp`, `batch_size` (messages in the batch) and the provider's `error_message`.

    Raises:
        ValueError: `workspace_id` is empty.
        NotFoundError: not a valid workspace id, or the API key is another workspace's.
    """
    path = _workspace_path(workspace_id, "/api/metrics/workspace/{}")
    return Operation("GET", path, WorkspaceRateLimits)


def check_workspace_rate_limits(workspace_id: str) -> Flow[RateLimitCheck]:
    """Whether this workspace is being limited: by providers (their 429s: how often, when last)
    and by its own limits now (one request: ``GET /api/workspaces/{workspaceId}/limits``,
    summarised).

    Args:
        workspace_id: the workspace.

    Returns:
        `limited` (True after any provider hit on either channel since the workspace's metrics
        were reset), `sms_count`, `email_count`, and the last hit's time per channel
        (`last_sms_exceeded`, `last_email_exceeded`, aware UTC datetimes or None;
        `last_exceeded` is the later of the two). Then `sms` and `email`, what app code needs
        to decide whether to send more now: the workspace's `limit` and the channel's
        (`channel_limit`, sends per second, None for none), `used_last_second`, `backlog`
        (its due messages waiting), `throttled` (held back now: its limit used, or its provider
        account held after a 429 until `held_until`) and `rate_limit_hits`; `throttled` is
        True when either channel is.

    Raises:
        ValueError: `workspace_id` is empty.
        NotFoundError: not a valid workspace id, or the API key is another workspace's.

    Example:
        >>> check = queue.check_workspace_rate_limits("workspace-123")  # doctest: +SKIP
        >>> if check.limited and check.last_exceeded > datetime.now(UTC) - timedelta(hours=1):
        ...     notify_admins(check.workspace_id, check.sms_count, check.email_count)
        >>> if check.sms.throttled or check.sms.backlog > 10_000:  # doctest: +SKIP
        ...     postpone_campaign(check.workspace_id)
    """
    limits: WorkspaceLimits = yield get_workspace_limits(workspace_id)
    sms, email = limits.sms.rate_limit_hits, limits.email.rate_limit_hits
    return RateLimitCheck(
        workspace_id=limits.workspace_id,
        limited=sms.count > 0 or email.count > 0,
        sms_count=sms.count,
        email_count=email.count,
        last_sms_exceeded=sms.last_exceeded,
        last_email_exceeded=email.last_exceeded,
        sms=limits.sms,
        email=limits.email,
    )


def get_workspace_limits(workspace_id: str) -> Operation[WorkspaceLimits]:
    """A workspace's own limit on each channel, and how much of each it uses now (``GET
    /api/workspaces/{workspaceId}/limits``; an admin key, or the workspace's own).

    Args:
        workspace_id: the workspace.

    Returns:
        For `sms` and `email`: `limit` (the workspace's own, sends per second, or None),
        `channel_limit` (the channel's, or None), `used_last_second` (its sends in the last
        second), `throttled`, `held_until` (the end of a hold on its provider account after a
        429, or None), `backlog` (its due messages waiting) and `rate_limit_hits`; `timestamp`,
        when it was read.

    Raises:
        ValueError: `workspace_id` is empty.
        NotFoundError: not a valid workspace id, or the API key is another workspace's.
    """
    path = _workspace_path(workspace_id, "/api/workspaces/{}/limits")
    return Operation("GET", path, WorkspaceLimits)


def set_workspace_limits(
    workspace_id: str,
    *,
    sms: int | NotGiven | None = NOT_GIVEN,
    email: int | NotGiven | None = NOT_GIVEN,
) -> Operation[WorkspaceLimits]:
    """Set or remove a workspace's own limit on each channel (``PUT
    /api/workspaces/{workspaceId}/limits``; an admin key). Every worker follows it from its next
    pacing call, within a second; the channel's own limit still applies on top.

    Args:
        workspace_id: the workspace.
        sms: SMS per second, 1 to 100,000; None removes the workspace's own limit; left out,
            it stays as it is.
        email: emails per second, the same way.

    Returns:
        The workspace's limits and usage after the change, as `get_workspace_limits` gives them.

    Raises:
        ValueError: `workspace_id` is empty.
        UnprocessableEntityError: a limit out of range or not a whole number (`.field` names
            the channel), or a malformed `workspace_id`; nothing was changed.
        PermissionDeniedError: the API key is a workspace's, not an admin key.

    Example:
        >>> queue.set_workspace_limits("workspace-123", sms=10)  # doctest: +SKIP
        >>> # later, back to the channel's limit alone; email's stays as it is
        >>> queue.set_workspace_limits("workspace-123", sms=None)  # doctest: +SKIP
    """
    path = _workspace_path(workspace_id, "/api/workspaces/{}/limits")
    body = {
        channel: limit
        for channel, limit in (("sms", sms), ("email", email))
        if not isinstance(limit, NotGiven)
    }
    return Operation("PUT", path, WorkspaceLimits, body)


def reset_metrics(
    *, channel: Channel | str | None = None, workspace_id: str | None = None
) -> Operation[ResetResult]:
    """Reset figures: of one channel, one workspace, both, or with neither everything (``POST
    /api/metrics/reset``; an admin key).

    A workspace's reset clears its own counts and rate-limit hits; a channel's totals are reset
    only with no `workspace_id`.

    Args:
        channel: ``"sms"`` or ``"email"``; both when None.
        workspace_id: one workspace; all when None.

    Returns:
        What was reset: `type` (the channel) and `workspace_id`, None meaning all.

    Raises:
        PermissionDeniedError: the API key is a workspace's, not an admin key.
        UnprocessableEntityError: `workspace_id` is not a valid workspace id.
    """
    body: dict[str, str] = {}
    if channel is not None:
        body["type"] = str(Channel(channel))
    if workspace_id is not None:
        body["workspaceId"] = workspace_id
    return Operation("POST", "/api/metrics/reset", ResetResult, body)
