"""QueueService and AsyncQueueService: the same API, sync and async.

Both inherit every decision from `BaseClient`; each implements only sending one request,
sleeping between attempts, and closing. Public methods are one-line delegations to the builders
in `_endpoints`, and the async class takes the sync class's docstrings, so the two cannot drift.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx
import tenacity

from queue_services import _config, _endpoints
from queue_services._base_client import BaseClient
from queue_services._endpoints import Delay, Operation, ResultT
from queue_services._exceptions import APIConnectionError, APITimeoutError
from queue_services._models import (
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


class QueueService(BaseClient[httpx.Client]):
    """A client of the queue-services API.

    Args:
        base_url: the server, e.g. ``"https://queue.example.com"``. Defaults to the
            ``QUEUE_SERVICES_URL`` environment variable, else ``http://127.0.0.1:8000``.
        api_key: sent as ``Authorization: Bearer <api_key>``. Defaults to the
            ``QUEUE_SERVICES_API_KEY`` environment variable; none is sent if neither is set.
        timeout: seconds (or an `httpx.Timeout`) for each attempt; 10 s, 5 s to connect.
        max_retries: retries after the first attempt for connection errors, timeouts, 408,
            429 and 5xx (2, so 3 attempts); 0 turns retries off.
        default_headers: extra headers for every request.
        http_client: an `httpx.Client` of your own (proxies, transports); you close it.

    Example:
        >>> with QueueService(base_url="http://127.0.0.1:8000") as queue:  # doctest: +SKIP
        ...     result = queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-1")
        ...     queue.get_job(result.job_id).status
        <JobStatus.SCHEDULED: 'SCHEDULED'>
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = _config.DEFAULT_TIMEOUT,
        max_retries: int = _config.DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        self._owns_client = http_client is None
        self._client = http_client or httpx.Client(timeout=self.timeout)

    # ---- I/O: the only code that differs from AsyncQueueService ------------------------------

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _send(self, operation: Operation[ResultT], request: httpx.Request) -> ResultT:
        try:
            response = self._client.send(request)
        except httpx.TimeoutException as exc:
            raise APITimeoutError(request) from exc
        except httpx.TransportError as exc:
            raise APIConnectionError(request, f"Connection error: {exc}") from exc
        return self._process_response(operation, response)

    def _request(self, operation: Operation[ResultT]) -> ResultT:
        request = self._build_request(operation)
        retrying = tenacity.Retrying(**self._retry_arguments(self._sleep))
        result: ResultT = retrying(self._send, operation, request)
        return result

    def close(self) -> None:
        """Close the connections (unless the `http_client` was yours)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def with_options(
        self,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
    ) -> Self:
        """A client like this one with some options changed, sharing its connections.

        Example:
            >>> queue.with_options(max_retries=5).get_job(job_id)  # doctest: +SKIP
        """
        copy = type(self)(
            **self._options(api_key=api_key, timeout=timeout, max_retries=max_retries),
            http_client=self._client,
        )
        copy._owns_client = False
        return copy

    # ---- the API ------------------------------------------------------------------------------

    def schedule_sms(
        self,
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
    ) -> ScheduleResult:
        """Schedule an SMS.

        Args:
            phone_number: the recipient in E.164 form, e.g. ``"+14155550123"``.
            message: the text.
            workspace_id: the workspace (tenant) sending it.
            contact_id: your id of the recipient, kept with the job.
            delay: how long from now: milliseconds (int) or a `timedelta`. Default: now.
            send_at: an aware datetime to send at instead (not with `delay`).
            priority: ``"high"``, ``"normal"`` (default) or ``"low"``.
            metadata: a JSON object kept with the job and handed to the provider.
            idempotency_key: your own key; by default a new one is made for this call and
                reused on its retries, so a retry never schedules twice.
            callback_url: where the server POSTs this job's status changes, signed (its host
                must be in the server's CALLBACK_ALLOWED_HOSTS); see `CallbackHandler`.

        Returns:
            The job's id, status and due time.

        Raises:
            InvalidSendTimeError: a negative delay, a naive `send_at`, or both given.
            UnprocessableEntityError: the server rejected a field (see `.field`, `.errors`).
            ConflictError: `idempotency_key` was used before for a different message.
            APIConnectionError: the server could not be reached, after the retries.
        """
        return self._request(
            _endpoints.schedule_sms(
                phone_number,
                message,
                workspace_id=workspace_id,
                contact_id=contact_id,
                delay=delay,
                send_at=send_at,
                priority=priority,
                metadata=metadata,
                idempotency_key=idempotency_key,
                callback_url=callback_url,
            )
        )

    def schedule_email(
        self,
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
    ) -> ScheduleResult:
        """Schedule an email.

        Args:
            to: the recipient's address.
            subject: the subject line (no line breaks).
            html: the HTML body; give `html`, `text` or both.
            text: a plain-text body.
            workspace_id, contact_id, delay, send_at, priority, metadata, idempotency_key,
            callback_url: as for `schedule_sms`.

        Returns:
            The job's id, status and due time.

        Raises:
            Same as `schedule_sms`.
        """
        return self._request(
            _endpoints.schedule_email(
                to,
                subject,
                html,
                text=text,
                workspace_id=workspace_id,
                contact_id=contact_id,
                delay=delay,
                send_at=send_at,
                priority=priority,
                metadata=metadata,
                idempotency_key=idempotency_key,
                callback_url=callback_url,
            )
        )

    def _drive(self, flow: _endpoints.BulkFlow) -> BulkScheduleResult:
        try:
            operation = next(flow)
            while True:
                operation = flow.send(self._request(operation))
        except StopIteration as done:
            result: BulkScheduleResult = done.value
            return result

    def schedule_sms_bulk(
        self,
        messages: Sequence[SmsMessage | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        chunk_size: int = _endpoints.DEFAULT_CHUNK_SIZE,
        on_progress: _endpoints.Progress | None = None,
    ) -> BulkScheduleResult:
        """Schedule any number of SMS, sent to the server in chunks of `chunk_size`.

        Args:
            messages: `SmsMessage` models, or dicts in the wire form (``phoneNumber``, ...).
            idempotency_key: one key for the whole call (each chunk and message gets its own
                derivative); by default a new one is made, so retrying the call is safe.
            chunk_size: messages per request (default 1,000; the server takes up to 10,000).
            on_progress: called after each chunk with (messages done, messages in all).

        Returns:
            One result per message, in order (``index`` counts across chunks); bad messages are
            reported, the rest scheduled.
        """
        return self._drive(
            _endpoints.bulk_flow(
                "sms",
                messages,
                idempotency_key=idempotency_key,
                chunk_size=chunk_size,
                on_progress=on_progress,
            )
        )

    def schedule_email_bulk(
        self,
        messages: Sequence[EmailMessage | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        chunk_size: int = _endpoints.DEFAULT_CHUNK_SIZE,
        on_progress: _endpoints.Progress | None = None,
    ) -> BulkScheduleResult:
        """Schedule any number of emails in chunks; see `schedule_sms_bulk`."""
        return self._drive(
            _endpoints.bulk_flow(
                "email",
                messages,
                idempotency_key=idempotency_key,
                chunk_size=chunk_size,
                on_progress=on_progress,
            )
        )

    def get_job(self, job_id: str) -> Job:
        """The job with this id.

        Raises:
            NotFoundError: there is no such job.
        """
        return self._request(_endpoints.get_job(job_id))

    def cancel_job(self, job_id: str) -> CancelResult:
        """Cancel a job that has not been taken for sending (cancelling twice is fine).

        Raises:
            NotFoundError: there is no such job.
            ConflictError: the job is being sent, or was sent or failed.
        """
        return self._request(_endpoints.cancel_job(job_id))

    def list_jobs(
        self,
        *,
        workspace_id: str,
        status: JobStatus | str | None = None,
        channel: Channel | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobList:
        """One page of a workspace's jobs, newest first.

        Args:
            workspace_id: whose jobs.
            status: only jobs in this status.
            channel: only ``"sms"`` or ``"email"`` jobs.
            limit: jobs per page, 1 to 500 (server default 50).
            cursor: `next_cursor` of the previous page.

        Returns:
            The jobs and the cursor of the next page (None on the last page).
        """
        return self._request(
            _endpoints.list_jobs(
                workspace_id=workspace_id,
                status=status,
                channel=channel,
                limit=limit,
                cursor=cursor,
            )
        )

    def get_metrics(self) -> Metrics:
        """Delivery figures per channel and workspace, the queue depths, and every workspace's
        provider rate-limit hits (``GET /api/metrics``)."""
        return self._request(_endpoints.get_metrics())

    def get_workspace_rate_limits(self, workspace_id: str) -> WorkspaceRateLimits:
        """A workspace's provider rate-limit hits with their details (seed 000's shape)."""
        return self._request(_endpoints.get_workspace_rate_limits(workspace_id))

    def check_workspace_rate_limits(self, workspace_id: str) -> RateLimitCheck:
        """Is this workspace being rate limited, how often, and when last (one request).

        Example:
            >>> check = queue.check_workspace_rate_limits("workspace-123")  # doctest: +SKIP
            >>> if check.limited: notify_admins(check.sms_count, check.last_exceeded)
        """
        return _endpoints.rate_limit_check(self.get_workspace_rate_limits(workspace_id))

    def reset_metrics(
        self, *, channel: Channel | str | None = None, workspace_id: str | None = None
    ) -> ResetResult:
        """Reset figures: of one channel, one workspace, both, or (with neither) everything."""
        return self._request(_endpoints.reset_metrics(channel=channel, workspace_id=workspace_id))

    def get_jobs(self, job_ids: Sequence[str]) -> JobBatch:
        """Up to 500 jobs in one request (unknown ids are listed in `missing`)."""
        return self._request(_endpoints.get_jobs(job_ids))


class AsyncQueueService(BaseClient[httpx.AsyncClient]):
    """The async client: the same constructor and methods as `QueueService`, to ``await``.

    Example:
        >>> async with AsyncQueueService() as queue:  # doctest: +SKIP
        ...     result = await queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-1")
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = _config.DEFAULT_TIMEOUT,
        max_retries: int = _config.DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(timeout=self.timeout)

    # ---- I/O: the only code that differs from QueueService ------------------------------------

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _send(self, operation: Operation[ResultT], request: httpx.Request) -> ResultT:
        try:
            response = await self._client.send(request)
        except httpx.TimeoutException as exc:
            raise APITimeoutError(request) from exc
        except httpx.TransportError as exc:
            raise APIConnectionError(request, f"Connection error: {exc}") from exc
        return self._process_response(operation, response)

    async def _request(self, operation: Operation[ResultT]) -> ResultT:
        request = self._build_request(operation)
        retrying = tenacity.AsyncRetrying(**self._retry_arguments(self._sleep))
        result: ResultT = await retrying(self._send, operation, request)
        return result

    async def close(self) -> None:
        await self._client.aclose() if self._owns_client else None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def with_options(
        self,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
    ) -> Self:
        copy = type(self)(
            **self._options(api_key=api_key, timeout=timeout, max_retries=max_retries),
            http_client=self._client,
        )
        copy._owns_client = False
        return copy

    # ---- the API ------------------------------------------------------------------------------

    async def schedule_sms(
        self,
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
    ) -> ScheduleResult:
        return await self._request(
            _endpoints.schedule_sms(
                phone_number,
                message,
                workspace_id=workspace_id,
                contact_id=contact_id,
                delay=delay,
                send_at=send_at,
                priority=priority,
                metadata=metadata,
                idempotency_key=idempotency_key,
                callback_url=callback_url,
            )
        )

    async def schedule_email(
        self,
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
    ) -> ScheduleResult:
        return await self._request(
            _endpoints.schedule_email(
                to,
                subject,
                html,
                text=text,
                workspace_id=workspace_id,
                contact_id=contact_id,
                delay=delay,
                send_at=send_at,
                priority=priority,
                metadata=metadata,
                idempotency_key=idempotency_key,
                callback_url=callback_url,
            )
        )

    async def _drive(self, flow: _endpoints.BulkFlow) -> BulkScheduleResult:
        try:
            operation = next(flow)
            while True:
                operation = flow.send(await self._request(operation))
        except StopIteration as done:
            result: BulkScheduleResult = done.value
            return result

    async def schedule_sms_bulk(
        self,
        messages: Sequence[SmsMessage | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        chunk_size: int = _endpoints.DEFAULT_CHUNK_SIZE,
        on_progress: _endpoints.Progress | None = None,
    ) -> BulkScheduleResult:
        return await self._drive(
            _endpoints.bulk_flow(
                "sms",
                messages,
                idempotency_key=idempotency_key,
                chunk_size=chunk_size,
                on_progress=on_progress,
            )
        )

    async def schedule_email_bulk(
        self,
        messages: Sequence[EmailMessage | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        chunk_size: int = _endpoints.DEFAULT_CHUNK_SIZE,
        on_progress: _endpoints.Progress | None = None,
    ) -> BulkScheduleResult:
        return await self._drive(
            _endpoints.bulk_flow(
                "email",
                messages,
                idempotency_key=idempotency_key,
                chunk_size=chunk_size,
                on_progress=on_progress,
            )
        )

    async def get_job(self, job_id: str) -> Job:
        return await self._request(_endpoints.get_job(job_id))

    async def cancel_job(self, job_id: str) -> CancelResult:
        return await self._request(_endpoints.cancel_job(job_id))

    async def list_jobs(
        self,
        *,
        workspace_id: str,
        status: JobStatus | str | None = None,
        channel: Channel | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobList:
        return await self._request(
            _endpoints.list_jobs(
                workspace_id=workspace_id,
                status=status,
                channel=channel,
                limit=limit,
                cursor=cursor,
            )
        )

    async def get_metrics(self) -> Metrics:
        return await self._request(_endpoints.get_metrics())

    async def get_workspace_rate_limits(self, workspace_id: str) -> WorkspaceRateLimits:
        return await self._request(_endpoints.get_workspace_rate_limits(workspace_id))

    async def check_workspace_rate_limits(self, workspace_id: str) -> RateLimitCheck:
        return _endpoints.rate_limit_check(await self.get_workspace_rate_limits(workspace_id))

    async def reset_metrics(
        self, *, channel: Channel | str | None = None, workspace_id: str | None = None
    ) -> ResetResult:
        return await self._request(
            _endpoints.reset_metrics(channel=channel, workspace_id=workspace_id)
        )

    async def get_jobs(self, job_ids: Sequence[str]) -> JobBatch:
        return await self._request(_endpoints.get_jobs(job_ids))


#: The public methods both clients have; the async ones take the sync ones' docstrings.
PUBLIC_METHODS = (
    "schedule_sms",
    "schedule_email",
    "schedule_sms_bulk",
    "schedule_email_bulk",
    "get_job",
    "get_jobs",
    "cancel_job",
    "list_jobs",
    "get_metrics",
    "get_workspace_rate_limits",
    "check_workspace_rate_limits",
    "reset_metrics",
    "with_options",
    "close",
)

for _name in PUBLIC_METHODS:
    getattr(AsyncQueueService, _name).__doc__ = getattr(QueueService, _name).__doc__
