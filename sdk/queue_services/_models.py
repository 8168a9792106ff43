"""Typed models of what the SDK sends and what the server answers (pydantic)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import AliasGenerator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class JobStatus(enum.StrEnum):
    """Where a job is in its life. `COMPLETED`, `FAILED` and `CANCELLED` are final."""

    SCHEDULED = "SCHEDULED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        """Whether the job can change no more."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class Channel(enum.StrEnum):
    """How a message is sent."""

    SMS = "sms"
    EMAIL = "email"


class Priority(enum.StrEnum):
    """Within a workspace, `high` goes before `normal`, and `normal` before `low`."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class _Model(BaseModel):
    # Python names in snake_case, wire names in camelCase; answers tolerate fields added by newer
    # servers, so an old SDK keeps working against a new server.
    model_config = ConfigDict(
        alias_generator=AliasGenerator(to_camel),
        populate_by_name=True,
        extra="allow",
    )


class _Message(_Model):
    """Fields every message has, whatever its channel."""

    workspace_id: str
    contact_id: str | None = None
    delay: int | None = Field(default=None, description="Milliseconds from now.")
    send_at: datetime | None = None
    priority: Priority | None = None
    metadata: dict[str, Any] | None = None


class SmsMessage(_Message):
    """One SMS as sent to the server (an item of `schedule_sms_bulk`)."""

    phone_number: str
    message: str


class EmailMessage(_Message):
    """One email as sent to the server (an item of `schedule_email_bulk`)."""

    to: str
    subject: str
    html: str | None = None
    text: str | None = None


class FieldError(_Model):
    """One problem with one field of a request."""

    field: str
    message: str
    type: str | None = None


class ErrorDetail(_Model):
    """What went wrong with a request (or with one item of a bulk request)."""

    code: str
    message: str
    field: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class ScheduleResult(_Model):
    """The answer to `schedule_sms` / `schedule_email`."""

    success: bool
    job_id: str
    status: JobStatus
    channel: Channel
    workspace_id: str
    scheduled_for: datetime
    duplicate: bool = False


class BulkItemResult(_Model):
    """The result for one message of a bulk request: a job, or the error that rejected it."""

    index: int
    success: bool
    job_id: str | None = None
    status: JobStatus | None = None
    scheduled_for: datetime | None = None
    duplicate: bool | None = None
    error: ErrorDetail | None = None


class BulkScheduleResult(_Model):
    """The answer to a bulk request: one result per message, in order."""

    success: bool
    total: int
    accepted: int
    rejected: int
    results: list[BulkItemResult]


class Job(_Model):
    """A job as the server keeps it."""

    job_id: str
    channel: Channel
    status: JobStatus
    workspace_id: str
    contact_id: str | None = None
    priority: Priority
    scheduled_for: datetime
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    provider_message_id: str | None = None
    payload: dict[str, Any]
    metadata: dict[str, Any] = Field(default_factory=dict)


class JobList(_Model):
    """A page of jobs; pass `next_cursor` to `list_jobs` for the next one (None: last page)."""

    jobs: list[Job]
    next_cursor: str | None = None


class CancelResult(_Model):
    """The answer to `cancel_job`."""

    success: bool
    job_id: str
    status: JobStatus


class BulkCancelResult(_Model):
    """The answer of `cancel_jobs` and `cancel_campaign`: how many of the jobs named were
    cancelled, and why the others were not."""

    success: bool
    #: Jobs this call cancelled.
    cancelled: int
    #: Jobs that were CANCELLED already (by an earlier call, or an earlier attempt of this one).
    already_cancelled: int
    #: Jobs too far along to cancel: taken for sending, sent, or failed.
    not_cancellable: int
    #: Ids with no job, or another workspace's job (a workspace key cannot tell them apart);
    #: always 0 for `cancel_campaign`.
    not_found: int


class WorkspaceCounts(_Model):
    """A workspace's figures on one channel."""

    total: int
    success: int
    failed: int
    rate_limited: int


class QueueDepth(_Model):
    """Jobs of a channel: not yet due, due and waiting, taken by a worker."""

    scheduled: int
    due: int
    in_flight: int


class ChannelMetrics(_Model):
    """One channel's delivery figures: jobs finished (`total`, `success`, `failed`, also as
    `total_processed`), `retried` and `rate_limited` (also `rate_exceeded_count`),
    `success_rate` (percent of finished jobs sent), `avg_processing_time` (ms per batch),
    `throughput` (jobs finished per second over the last minute), the same counts per workspace,
    and the queue's depths."""

    total_processed: int
    batches_processed: int
    success_rate: float
    avg_processing_time: float
    throughput: float
    rate_exceeded_count: int
    last_processed_time: datetime | None = None
    total: int
    success: int
    failed: int
    rate_limited: int
    retried: int = 0
    workspaces: dict[str, WorkspaceCounts] = Field(default_factory=dict)
    queue: QueueDepth | None = None


class RateLimitSummary(_Model):
    """How often and when last a workspace hit a provider's rate limit on one channel."""

    count: int
    last_exceeded: datetime | None = None


class Metrics(_Model):
    """The answer of `get_metrics`."""

    sms: ChannelMetrics
    email: ChannelMetrics
    workspace_rate_limits: dict[str, dict[Channel, RateLimitSummary]] = Field(default_factory=dict)
    timestamp: datetime


class RateLimitDetail(_Model):
    """One provider rate-limit hit."""

    timestamp: datetime
    batch_size: int
    error_message: str


class ChannelRateLimits(_Model):
    """A workspace's rate-limit hits on one channel."""

    count: int
    last_exceeded: datetime | None = None
    details: list[RateLimitDetail] = Field(default_factory=list)


class WorkspaceRateLimits(_Model):
    """The answer of `get_workspace_rate_limits`: a workspace's provider rate-limit hits on each
    channel."""

    workspace_id: str
    sms: ChannelRateLimits
    email: ChannelRateLimits
    timestamp: datetime


class ChannelLimits(_Model):
    """A workspace's limit on one channel and how much of the channel it uses now.

    The defaults are what a `ChannelLimits()` made by hand (in a test) says: no limit known,
    nothing counted, not throttled; the server always gives every field.
    """

    #: The workspace's own limit, sends per second; None: only the channel's applies.
    limit: int | None = None
    #: The channel's limit, sends per second; None: the channel has none.
    channel_limit: int | None = None
    #: The workspace's sends in the last second (sends started, on the server's clock); None
    #: when neither the workspace nor the channel has a limit (nothing counts them then).
    used_last_second: int | None = None
    #: Its sends are held back now: as many in the last second as its `limit`, or its provider
    #: account held after a 429 (until `held_until`).
    throttled: bool = False
    #: When the hold on its provider account ends (aware UTC datetime); None: not held.
    held_until: datetime | None = None
    #: Its due messages waiting for their turn on the channel.
    backlog: int = 0
    #: The provider's 429s to its messages (count and last time) since its metrics were reset.
    rate_limit_hits: RateLimitSummary = Field(default_factory=lambda: RateLimitSummary(count=0))


class WorkspaceLimits(_Model):
    """The answer of `get_workspace_limits` and `set_workspace_limits`: a workspace's limits and
    usage on each channel, read at `timestamp` (the server's Redis clock)."""

    workspace_id: str
    sms: ChannelLimits
    email: ChannelLimits
    timestamp: datetime


class RateLimitCheck(_Model):
    """The answer of `check_workspace_rate_limits`: is this workspace being limited, by a
    provider (its 429s) or by its own limits now?"""

    workspace_id: str
    #: True when a provider has rate-limited the workspace on any channel.
    limited: bool
    sms_count: int
    email_count: int
    last_sms_exceeded: datetime | None = None
    last_email_exceeded: datetime | None = None
    #: The SMS channel: the workspace's limit, its sends in the last second, its backlog,
    #: whether it is throttled now, its 429s.
    sms: ChannelLimits = Field(default_factory=ChannelLimits)
    #: The same for email.
    email: ChannelLimits = Field(default_factory=ChannelLimits)

    @property
    def last_exceeded(self) -> datetime | None:
        """The most recent hit on either channel."""
        moments = [m for m in (self.last_sms_exceeded, self.last_email_exceeded) if m is not None]
        return max(moments, default=None)

    @property
    def throttled(self) -> bool:
        """Whether the workspace's sends are held back now on either channel."""
        return self.sms.throttled or self.email.throttled


class ResetResult(_Model):
    """The answer of `reset_metrics`."""

    success: bool
    type: Channel | None = None
    workspace_id: str | None = None


class JobBatch(_Model):
    """The answer of `get_jobs`: the jobs found, in the order asked, and the ids not found."""

    jobs: list[Job]
    missing: list[str] = Field(default_factory=list)
