"""Schemas of the HTTP API: the bodies it accepts and the answers it gives (pydantic models).

Request models are strict (a number sent as a string is an error, not a guess) and reject unknown
fields: a misspelt ``delayMs`` silently ignored would send a campaign message at once. Limits that
depend on settings or on the current time are checked with the validation context
(`ValidationContext`), so every problem comes back as one list of field errors.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypedDict
from urllib.parse import urlsplit

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from queue_services._limits import (
    E164_PATTERN,
    IDENTIFIER_PATTERN,
    MAX_CAMPAIGN_ID_CHARS,
    MAX_CANCEL_IDS,
    MAX_IDENTIFIER_CHARS,
    MAX_JOB_ID_CHARS,
    MAX_LOOKUP_IDS,
    MAX_METADATA_DEPTH,
    MAX_SMS_CHARS,
    MAX_SUBJECT_CHARS,
    MAX_WORKSPACE_RATE_PER_S,
    nesting_depth,
)
from queue_services_server.api.sms_encoding import segments

# The patterns and limits are the SDK's (`queue_services._limits`), so that its test fake checks
# the same rules as these schemas.

#: E.164: a plus sign, then 2 to 15 digits, the first not zero. Format only: whether a number is
#: in service is the provider's business, and examples such as +1234567890 must pass.
_E164 = re.compile(E164_PATTERN)

#: Workspace and contact ids: they end up in Redis key names and in logs, so a safe alphabet.
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


class ValidationContext(TypedDict):
    """What validation needs beyond the body: the clock and the configured limits."""

    now_ms: int
    max_delay_ms: int
    max_metadata_bytes: int
    callback_hosts: frozenset[str]
    max_sms_segments: int


def _context(info: ValidationInfo) -> ValidationContext:
    if not isinstance(info.context, dict):
        raise RuntimeError("validate messages with context=ValidationContext(...)")
    context: ValidationContext = info.context  # type: ignore[assignment]
    return context


def _phone_number(value: str) -> str:
    if not _E164.fullmatch(value):
        raise ValueError("must be an E.164 number such as +14155550123")
    return value


def _identifier(value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"must be 1 to {MAX_IDENTIFIER_CHARS} characters of letters, digits and . _ : @ + -, "
            "starting with a letter or digit"
        )
    return value


#: C0 control characters other than tab, line feed and carriage return, and DEL: no SMS or mail
#: text needs them, and a NUL truncates the text in some providers' C code.
_CONTROL = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f"
_CONTROL_CHARACTER = re.compile(f"[{_CONTROL}]")


#: RFC 3339's date-time (what OpenAPI's ``format: date-time`` means), offset required.
_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?([Zz]|[+-]\d\d:?\d\d)")


def _iso_text(value: Any) -> Any:
    # Lax mode would read a number, or a string of digits, as seconds since 1970: a stray 0 or
    # "1" would then mean "send now". Only an ISO 8601 date-time with its offset is a date here.
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        raise ValueError(
            "must be an ISO 8601 date-time with an offset, like 2026-12-01T09:30:00+01:00"
        )
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if _CONTROL_CHARACTER.search(value):
        raise ValueError("must not contain control characters (tab and line breaks are fine)")
    return value


def _single_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must not contain line breaks")
    return value


def _iso_ms(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


#: An instant as the API writes it: ISO 8601, UTC, milliseconds (2025-03-22T10:15:30.123Z).
Instant = Annotated[
    datetime,
    PlainSerializer(_iso_ms, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


def is_identifier(value: str) -> bool:
    """Whether `value` is a valid workspace or contact id."""
    return bool(_IDENTIFIER.fullmatch(value))


# The validators give clear messages; WithJsonSchema writes the same rules into /openapi.json, so
# that clients and fuzzers know them.
PhoneNumber = Annotated[
    str,
    AfterValidator(_phone_number),
    WithJsonSchema({"type": "string", "pattern": f"^{E164_PATTERN}$"}),
]
Identifier = Annotated[
    str,
    AfterValidator(_identifier),
    WithJsonSchema(
        {"type": "string", "pattern": f"^{IDENTIFIER_PATTERN}$", "maxLength": MAX_IDENTIFIER_CHARS}
    ),
]
NonBlank = Annotated[
    str,
    AfterValidator(_not_blank),
    WithJsonSchema(
        {"type": "string", "pattern": f"^[^{_CONTROL}]*[^\\s{_CONTROL}][^{_CONTROL}]*$"}
    ),
]
Priority = Literal["high", "normal", "low"]
Channel = Literal["sms", "email"]
Status = Literal["SCHEDULED", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"]


class _Message(BaseModel):
    """Fields shared by SMS and email bodies."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    workspace_id: Identifier = Field(alias="workspaceId")
    contact_id: Identifier | None = Field(default=None, alias="contactId")
    delay: Annotated[float, Field(allow_inf_nan=False)] | None = Field(
        default=None, description="Milliseconds from now; 0 or absent means now."
    )
    send_at: Annotated[AwareDatetime, BeforeValidator(_iso_text), Field(strict=False)] | None = (
        Field(
            default=None,
            alias="sendAt",
            description="An ISO 8601 date-time with a UTC offset; not together with delay.",
        )
    )
    priority: Priority = "normal"
    metadata: dict[str, Any] | None = None
    callback_url: str | None = Field(
        default=None,
        alias="callbackUrl",
        max_length=2000,
        description="Where to POST this job's status changes (host must be allowed).",
    )

    @field_validator("callback_url")
    @classmethod
    def _callback_allowed(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("must be an http or https URL")
        allowed = _context(info)["callback_hosts"]
        if url.hostname.lower() not in allowed:
            raise ValueError(
                f"host {url.hostname!r} is not allowed: add it to CALLBACK_ALLOWED_HOSTS"
            )
        return value

    @field_validator("delay")
    @classmethod
    def _delay_in_range(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        if value < 0:
            raise ValueError("must be 0 or more (milliseconds from now)")
        limit = _context(info)["max_delay_ms"]
        if value > limit:
            raise ValueError(f"must be at most {limit} ms ({limit // 86_400_000} days)")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_bounded(
        cls, value: dict[str, Any] | None, info: ValidationInfo
    ) -> dict[str, Any] | None:
        if value is None:
            return None
        limit = _context(info)["max_metadata_bytes"]
        size = len(orjson.dumps(value))
        if size > limit:
            raise ValueError(f"must be at most {limit} bytes as JSON (it is {size})")
        if nesting_depth(value) > MAX_METADATA_DEPTH:
            raise ValueError(f"must be nested at most {MAX_METADATA_DEPTH} levels deep")
        campaign = value.get("campaignId")
        if isinstance(campaign, str) and len(campaign) > MAX_CAMPAIGN_ID_CHARS:
            # a campaign is cancelled by its id: one too long to name could never be
            raise ValueError(f"campaignId must be at most {MAX_CAMPAIGN_ID_CHARS} characters")
        return value

    @field_validator("send_at")
    @classmethod
    def _send_at_in_range(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        if info.data.get("delay") is not None:
            raise ValueError("give either delay or sendAt, not both")
        context = _context(info)
        if value.timestamp() * 1000 - context["now_ms"] > context["max_delay_ms"]:
            days = context["max_delay_ms"] // 86_400_000
            raise ValueError(f"must be at most {days} days ahead")
        return value

    def due_ms(self, now_ms: int) -> int:
        """When the message is due, in ms since the epoch (never before `now_ms`)."""
        if self.send_at is not None:
            return max(now_ms, math.floor(self.send_at.timestamp() * 1000))
        return now_ms + math.floor(self.delay or 0)


class SmsMessage(_Message):
    """Body of ``POST /api/schedule-sms``: what the CRM already sends, and optional extensions."""

    phone_number: PhoneNumber = Field(alias="phoneNumber")
    message: Annotated[
        str,
        AfterValidator(_not_blank),
        Field(max_length=MAX_SMS_CHARS),
        WithJsonSchema(
            {
                "type": "string",
                "pattern": f"^[^{_CONTROL}]*[^\\s{_CONTROL}][^{_CONTROL}]*$",
                "maxLength": MAX_SMS_CHARS,
            }
        ),
    ]

    @field_validator("message")
    @classmethod
    def _segments_within_limit(cls, value: str, info: ValidationInfo) -> str:
        limit = _context(info)["max_sms_segments"]
        encoding, count = segments(value)
        if count > limit:
            raise ValueError(
                f"takes {count} SMS segments in {encoding} (at most {limit}: "
                f"{153 * limit if encoding == 'GSM-7' else 67 * limit} characters in {encoding})"
            )
        return value

    def payload(self) -> dict[str, Any]:
        """What the provider will be handed, besides ids and metadata."""
        return {"phoneNumber": self.phone_number, "message": self.message}


class EmailMessage(_Message):
    """Body of ``POST /api/schedule-email``: what the CRM already sends, and optional ``text``."""

    to: EmailStr
    subject: Annotated[
        str,
        AfterValidator(_not_blank),
        AfterValidator(_single_line),
        Field(max_length=MAX_SUBJECT_CHARS),
        WithJsonSchema(
            {
                "type": "string",
                "pattern": f"^[^\\r\\n{_CONTROL}]*[^\\s{_CONTROL}][^\\r\\n{_CONTROL}]*$",
                "maxLength": MAX_SUBJECT_CHARS,
            }
        ),
    ]
    # `text` comes first so that the check on `html` (run even when html is absent) sees it.
    text: NonBlank | None = None
    html: NonBlank | None = Field(default=None, validate_default=True)

    @field_validator("html")
    @classmethod
    def _has_body(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("text") is None:
            raise ValueError("give html or text (or both)")
        return value

    def payload(self) -> dict[str, Any]:
        """What the provider will be handed, besides ids and metadata."""
        payload: dict[str, Any] = {"to": self.to, "subject": self.subject}
        if self.html is not None:
            payload["html"] = self.html
        if self.text is not None:
            payload["text"] = self.text
        return payload


class BulkRequest(BaseModel):
    """Body of the bulk endpoints: the items are checked one by one, not here."""

    model_config = ConfigDict(extra="forbid", strict=True)

    messages: list[Any] = Field(min_length=1)


# ---- answers ---------------------------------------------------------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class FieldError(_Answer):
    """One problem with one field."""

    field: str
    message: str
    type: str


class ErrorDetail(_Answer):
    """What went wrong, in the ``error`` member of every error answer."""

    code: str
    message: str
    field: str | None = None
    errors: list[FieldError] | None = None


class ErrorAnswer(_Answer):
    """Every 4xx and 5xx answer."""

    success: Literal[False] = False
    error: ErrorDetail
    request_id: str | None = Field(default=None, alias="requestId")


class ScheduleAnswer(_Answer):
    """Answer of the scheduling endpoints."""

    success: Literal[True] = True
    job_id: str = Field(alias="jobId")
    status: Status
    channel: Channel
    workspace_id: str = Field(alias="workspaceId")
    scheduled_for: Instant = Field(alias="scheduledFor")
    duplicate: bool = Field(
        description="True when an Idempotency-Key matched an earlier job: nothing new was "
        "scheduled."
    )


class BulkItemAnswer(_Answer):
    """The result for one message of a bulk request."""

    index: int
    success: bool
    job_id: str | None = Field(default=None, alias="jobId")
    status: Status | None = None
    scheduled_for: Instant | None = Field(default=None, alias="scheduledFor")
    duplicate: bool | None = None
    error: ErrorDetail | None = None


class BulkAnswer(_Answer):
    """Answer of the bulk endpoints: one result per message, in order."""

    success: bool
    total: int
    accepted: int
    rejected: int
    results: list[BulkItemAnswer]


class JobAnswer(_Answer):
    """A job as ``GET /api/jobs/{jobId}`` shows it."""

    job_id: str = Field(alias="jobId")
    channel: Channel
    status: Status
    workspace_id: str = Field(alias="workspaceId")
    contact_id: str | None = Field(alias="contactId")
    priority: Priority
    scheduled_for: Instant = Field(alias="scheduledFor")
    created_at: Instant = Field(alias="createdAt")
    updated_at: Instant = Field(alias="updatedAt")
    attempts: int
    last_error: str | None = Field(alias="lastError")
    sent_at: Instant | None = Field(alias="sentAt")
    provider_message_id: str | None = Field(alias="providerMessageId")
    payload: dict[str, Any]
    metadata: dict[str, Any]


class JobListAnswer(_Answer):
    """A page of ``GET /api/jobs``."""

    jobs: list[JobAnswer]
    next_cursor: str | None = Field(alias="nextCursor")


class LookupRequest(BaseModel):
    """Body of ``POST /api/jobs/lookup``: many job ids at once."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    job_ids: list[Annotated[str, Field(min_length=1, max_length=MAX_JOB_ID_CHARS)]] = Field(
        alias="jobIds", min_length=1, max_length=MAX_LOOKUP_IDS
    )


class LookupAnswer(_Answer):
    """Answer of ``POST /api/jobs/lookup``: the jobs found, in the order asked, and the ids not."""

    jobs: list[JobAnswer]
    missing: list[str]


class CancelManyRequest(BaseModel):
    """Body of ``POST /api/jobs/cancel``: ``{"jobIds": [...]}``, or ``{"workspaceId": ...,
    "campaignId": ...}`` for every job of a campaign (``metadata.campaignId``)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    job_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, alias="jobIds", min_length=1, max_length=MAX_CANCEL_IDS
    )
    workspace_id: Identifier | None = Field(default=None, alias="workspaceId")
    campaign_id: Annotated[str, Field(min_length=1, max_length=MAX_CAMPAIGN_ID_CHARS)] | None = (
        Field(default=None, alias="campaignId")
    )

    @model_validator(mode="after")
    def _one_form(self) -> CancelManyRequest:
        by_campaign = self.workspace_id is not None or self.campaign_id is not None
        if (self.job_ids is not None) == by_campaign:
            raise ValueError('give either "jobIds", or "workspaceId" and "campaignId"')
        if by_campaign and (self.workspace_id is None or self.campaign_id is None):
            raise ValueError('a campaign is named by both "workspaceId" and "campaignId"')
        return self


class CancelManyAnswer(_Answer):
    """Answer of ``POST /api/jobs/cancel``: how many of the jobs had each outcome."""

    success: Literal[True] = True
    #: Cancelled by this request: none of them will be sent.
    cancelled: int
    #: Were cancelled before.
    already_cancelled: int = Field(alias="alreadyCancelled")
    #: Sent, failed, or given their send slot (they reach the provider within 0.4 s).
    not_cancellable: int = Field(alias="notCancellable")
    #: No such job, or another workspace's; for a campaign, jobs retention has removed.
    not_found: int = Field(alias="notFound")


class CancelAnswer(_Answer):
    """Answer of ``DELETE /api/jobs/{jobId}``."""

    success: Literal[True] = True
    job_id: str = Field(alias="jobId")
    status: Literal["CANCELLED"] = "CANCELLED"


class OutboxAnswer(_Answer):
    """Answer of ``GET /api/outbox``: what the dev outbox provider "sent", newest first."""

    channel: Channel
    messages: list[dict[str, Any]]


class WorkspaceCounts(_Answer):
    """A workspace's figures on one channel."""

    total: int
    success: int
    failed: int
    rate_limited: int = Field(alias="rateLimited")


class QueueDepth(_Answer):
    """Jobs of a channel by where they are: not yet due, due and waiting, taken."""

    scheduled: int
    due: int
    in_flight: int = Field(alias="inFlight")


class ChannelMetricsAnswer(_Answer):
    """One channel's metrics: the fields of both shapes the CRM's dashboards read, and more."""

    total_processed: int = Field(alias="totalProcessed")
    batches_processed: int = Field(alias="batchesProcessed")
    success_rate: float = Field(alias="successRate", description="Percent of finished jobs sent.")
    avg_processing_time: float = Field(alias="avgProcessingTime", description="ms per batch.")
    throughput: float = Field(description="Jobs finished per second over the last minute.")
    rate_exceeded_count: int = Field(alias="rateExceededCount")
    last_processed_time: Instant | None = Field(alias="lastProcessedTime")
    total: int
    success: int
    failed: int
    rate_limited: int = Field(alias="rateLimited")
    retried: int
    workspaces: dict[str, WorkspaceCounts]
    queue: QueueDepth


class RateLimitSummary(_Answer):
    """How often and when last a workspace hit a provider's rate limit on one channel."""

    count: int
    last_exceeded: Instant | None = Field(alias="lastExceeded")


class MetricsAnswer(_Answer):
    """Answer of ``GET /api/metrics``."""

    sms: ChannelMetricsAnswer
    email: ChannelMetricsAnswer
    workspace_rate_limits: dict[str, dict[Channel, RateLimitSummary]] = Field(
        alias="workspaceRateLimits"
    )
    timestamp: Instant


class RateLimitDetail(_Answer):
    """One provider rate-limit hit."""

    timestamp: Instant
    batch_size: int = Field(alias="batchSize")
    error_message: str = Field(alias="errorMessage")


class WorkspaceRateLimit(_Answer):
    """A workspace's provider rate-limit hits on one channel."""

    count: int
    last_exceeded: Instant | None = Field(alias="lastExceeded")
    details: list[RateLimitDetail]


class WorkspaceMetricsAnswer(_Answer):
    """Answer of ``GET /api/metrics/workspace/{workspaceId}``: a workspace's provider rate-limit
    hits per channel."""

    workspace_id: str = Field(alias="workspaceId")
    sms: WorkspaceRateLimit
    email: WorkspaceRateLimit
    timestamp: Instant


class ResetRequest(BaseModel):
    """Body of ``POST /api/metrics/reset``: a channel, a workspace, both, or neither (all)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    type: Channel | None = None
    workspace_id: Identifier | None = Field(default=None, alias="workspaceId")


class ResetAnswer(_Answer):
    """Answer of ``POST /api/metrics/reset``."""

    success: Literal[True] = True
    type: Channel | None
    workspace_id: str | None = Field(alias="workspaceId")


# ---- workspace limits (tiers) ----------------------------------------------------------------


def _rate(value: int) -> int:
    if not 1 <= value <= MAX_WORKSPACE_RATE_PER_S:
        raise ValueError(
            f"must be 1 to {MAX_WORKSPACE_RATE_PER_S} sends per second, or null to remove the "
            "workspace's own limit"
        )
    return value


def _whole_number(value: Any) -> Any:
    # JSON has one kind of number: 10.0 is the integer 10 (as JSON Schema's "integer" says, and
    # clients that write every number as a float send), 10.5 is not; a string stays refused.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: A workspace's own limit on a channel, sends per second.
WorkspaceRate = Annotated[
    int,
    BeforeValidator(_whole_number),
    AfterValidator(_rate),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_WORKSPACE_RATE_PER_S}),
]


class LimitsRequest(BaseModel):
    """Body of ``PUT /api/workspaces/{workspaceId}/limits``: per channel, the workspace's own
    limit (sends per second), ``null`` to remove it; a channel left out keeps what it has."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sms: WorkspaceRate | None = None
    email: WorkspaceRate | None = None

    def changes(self) -> dict[str, int | None]:
        """The channels the body names, each with its new limit (None: removed)."""
        return {channel: getattr(self, channel) for channel in sorted(self.model_fields_set)}


class ChannelLimitsAnswer(_Answer):
    """A workspace's limit on one channel and how much of the channel it uses now."""

    limit: int | None = Field(
        description="The workspace's own limit, sends per second; null: only the channel's."
    )
    channel_limit: int | None = Field(
        alias="channelLimit",
        description="The channel's limit (SMS_RATE_LIMIT, EMAIL_RATE_LIMIT); null: none.",
    )
    used_last_second: int | None = Field(
        alias="usedLastSecond",
        description="The workspace's sends with a slot in the last 1000 ms (Redis's clock); "
        "null when neither it nor the channel has a limit (nothing counts them then).",
    )
    throttled: bool = Field(
        description="Its sends are held back now: as many in the last second as its limit, or "
        "its provider account held after a 429."
    )
    held_until: Instant | None = Field(
        alias="heldUntil",
        description="When the hold on its provider account ends (after a 429); null: none.",
    )
    backlog: int = Field(description="Its due jobs waiting for their turn on the channel.")
    rate_limit_hits: RateLimitSummary = Field(
        alias="rateLimitHits",
        description="The provider's 429s to its messages since its metrics were last reset.",
    )


class WorkspaceLimitsAnswer(_Answer):
    """Answer of ``GET`` and ``PUT /api/workspaces/{workspaceId}/limits``."""

    workspace_id: str = Field(alias="workspaceId")
    sms: ChannelLimitsAnswer
    email: ChannelLimitsAnswer
    timestamp: Instant = Field(description="When the figures were read (Redis's clock).")


class HealthAnswer(_Answer):
    """Answer of ``GET /health``."""

    status: Literal["ok"] = "ok"


class ReadyAnswer(_Answer):
    """Answer of ``GET /ready``."""

    status: Literal["ready", "unavailable"]
    redis: str


def from_ms(value_ms: int) -> datetime:
    """An aware UTC datetime from ms since the epoch (exact: no float rounding)."""
    seconds, millis = divmod(value_ms, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=millis * 1000)


# ---- API keys --------------------------------------------------------------------------------


class KeyCreateRequest(BaseModel):
    """Body of ``POST /api/keys``: ``{"workspaceId": ...}`` for a workspace key, or
    ``{"admin": true}`` for an admin key; an optional `name` says what it is for."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    workspace_id: Identifier | None = Field(default=None, alias="workspaceId")
    admin: bool = False
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\x20-\x7e]+$")] | None = (
        None
    )

    @model_validator(mode="after")
    def _one_scope(self) -> KeyCreateRequest:
        if self.admin == (self.workspace_id is not None):
            raise ValueError('give either "workspaceId" (a workspace key) or "admin": true')
        return self


class KeyAnswer(_Answer):
    """A key as ``GET /api/keys`` lists it: never its secret."""

    id: str
    admin: bool
    workspace_id: str | None = Field(alias="workspaceId")
    name: str | None = None
    created_at: Instant = Field(alias="createdAt")


class KeyCreatedAnswer(KeyAnswer):
    """Answer of ``POST /api/keys``: the key itself, shown this once only."""

    success: Literal[True] = True
    key: str


class KeyListAnswer(_Answer):
    """Answer of ``GET /api/keys``."""

    keys: list[KeyAnswer]


class KeyRevokedAnswer(_Answer):
    """Answer of ``DELETE /api/keys/{id}``."""

    success: Literal[True] = True
    id: str
    revoked: Literal[True] = True
