"""The interface app code can type against, met by the real clients and by the test fakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from queue_services._endpoints import Delay, Progress
from queue_services._models import (
    BulkScheduleResult,
    CancelResult,
    Channel,
    EmailMessage,
    Job,
    JobList,
    JobStatus,
    Priority,
    ScheduleResult,
    SmsMessage,
)


@runtime_checkable
class QueueServiceProtocol(Protocol):
    """What app code needs from a queue client (`QueueService` or `FakeQueueService`)."""

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
    ) -> ScheduleResult: ...

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
    ) -> ScheduleResult: ...

    def schedule_sms_bulk(
        self,
        messages: Sequence[SmsMessage | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        chunk_size: int = ...,
        on_progress: Progress | None = None,
    ) -> BulkScheduleResult: ...

    def schedule_email_bulk(
        self,
        messages: Sequence[EmailMessage | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        chunk_size: int = ...,
        on_progress: Progress | None = None,
    ) -> BulkScheduleResult: ...

    def get_job(self, job_id: str) -> Job: ...

    def cancel_job(self, job_id: str) -> CancelResult: ...

    def list_jobs(
        self,
        *,
        workspace_id: str,
        status: JobStatus | str | None = None,
        channel: Channel | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobList: ...


@runtime_checkable
class AsyncQueueServiceProtocol(Protocol):
    """The async twin of `QueueServiceProtocol` (`AsyncQueueService`, `AsyncFakeQueueService`)."""

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
    ) -> ScheduleResult: ...

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
    ) -> ScheduleResult: ...

    async def get_job(self, job_id: str) -> Job: ...

    async def cancel_job(self, job_id: str) -> CancelResult: ...

    async def list_jobs(
        self,
        *,
        workspace_id: str,
        status: JobStatus | str | None = None,
        channel: Channel | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobList: ...
