"""Test doubles for app code that uses the SDK: in-memory fakes with the clients' exact API.

`FakeQueueService` and `AsyncFakeQueueService` are the real clients with the network replaced by
an in-memory server (`FakeServer`): every argument goes through the same request building as in
production, the fake answers the HTTP request as the server would, and the answers are read into
the same models, or raised as the same exception classes. Jobs stay SCHEDULED until a test
moves them (`complete`, `fail`, or `run_due` with the fake clock); the metrics count what the
test finished, and a provider's rate limit is hit only when a test records it
(`record_rate_limit`). Workspace limits set with `set_workspace_limits` are kept and read back
with the workspace's usage counted from the jobs the test finished (`get_workspace_limits`,
`check_workspace_rate_limits`). The fake checks no API keys: what a workspace key may not do,
it lets every caller do.

    def test_reminder_is_scheduled(fake_queue_service):        # the pytest fixture
        send_reminder(fake_queue_service, appointment)
        fake_queue_service.assert_sms_scheduled(to="+14155550123", contains="09:30")

`mock_queue_service_api()` serves the same fake over HTTP through respx, for code that calls the
HTTP API directly.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx

from queue_services._base_client import BaseClient
from queue_services._client import AsyncQueueService, QueueService
from queue_services._limits import (
    E164_PATTERN,
    IDENTIFIER_PATTERN,
    MAX_BULK_MESSAGES,
    MAX_CAMPAIGN_ID_CHARS,
    MAX_CANCEL_IDS,
    MAX_DELAY_MS,
    MAX_IDENTIFIER_CHARS,
    MAX_JOB_ID_CHARS,
    MAX_LOOKUP_IDS,
    MAX_METADATA_DEPTH,
    MAX_SMS_CHARS,
    MAX_SUBJECT_CHARS,
    MAX_WORKSPACE_RATE_PER_S,
    nesting_depth,
)
from queue_services._models import Job, JobStatus

__all__ = [
    "AsyncFakeQueueService",
    "FakeJob",
    "FakeQueueService",
    "FakeRateLimitHit",
    "FakeServer",
    "mock_queue_service_api",
]

# The server's own rules (`_limits` is shared with it); the address check is looser than its.
_E164 = re.compile(E164_PATTERN)
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_ID_RULE = f"1 to {MAX_IDENTIFIER_CHARS} letters, digits and . _ : @ + -"
_FAKE_URL = "http://fake.queue-services"
_CHANNELS = ("sms", "email")

#: Rate-limit hits shown in detail per workspace and channel, newest first (as the server does).
_DETAILS_SHOWN = 50

#: The window of the `throughput` figure (as the server's).
_THROUGHPUT_WINDOW = timedelta(seconds=60)

#: The window a workspace's `used_last_second` counts sends over (as the server's).
_USAGE_WINDOW = timedelta(seconds=1)

#: The server's own words for a limit out of range.
_RATE_RULE = (
    f"must be 1 to {MAX_WORKSPACE_RATE_PER_S} sends per second, or null to remove the "
    "workspace's own limit"
)


def _iso(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


@dataclass
class FakeJob:
    """A job the fake server holds."""

    job_id: str
    channel: str
    workspace_id: str
    contact_id: str | None
    priority: str
    status: JobStatus
    scheduled_for: datetime
    created_at: datetime
    updated_at: datetime
    payload: dict[str, Any]
    metadata: dict[str, Any]
    digest: str
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    provider_message_id: str | None = None

    def wire(self) -> dict[str, Any]:
        """The job as the API shows it."""
        return {
            "jobId": self.job_id,
            "channel": self.channel,
            "status": self.status.value,
            "workspaceId": self.workspace_id,
            "contactId": self.contact_id,
            "priority": self.priority,
            "scheduledFor": _iso(self.scheduled_for),
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
            "attempts": self.attempts,
            "lastError": self.last_error,
            "sentAt": _iso(self.sent_at) if self.sent_at else None,
            "providerMessageId": self.provider_message_id,
            "payload": self.payload,
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class FakeRateLimitHit:
    """A provider's rate-limit hit, recorded by a test with `FakeServer.record_rate_limit`."""

    workspace_id: str
    channel: str
    at: datetime
    #: Messages in the batch the provider refused.
    batch_size: int
    error_message: str

    def wire(self) -> dict[str, Any]:
        """The hit as ``GET /api/metrics/workspace/{workspaceId}`` shows it."""
        return {
            "timestamp": _iso(self.at),
            "batchSize": self.batch_size,
            "errorMessage": self.error_message,
        }


@dataclass
class _Figures:
    """One channel's counters, kept as the server keeps them: changed when a job finishes or a
    provider rate-limits, cleared by a reset (a workspace's reset clears only its own)."""

    totals: Counter[str] = field(default_factory=Counter)
    workspaces: dict[str, Counter[str]] = field(default_factory=dict)
    finished_at: list[datetime] = field(default_factory=list)
    last_processed: datetime | None = None

    def workspace(self, workspace_id: str) -> Counter[str]:
        return self.workspaces.setdefault(workspace_id, Counter())


class _Problem(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
            detail = self.message.split(": ", 1)[-1]
            error["errors"] = [{"field": self.field, "message": detail, "type": "value_error"}]
        return {"success": False, "error": error, "requestId": "fake"}


def _invalid(field: str, message: str) -> _Problem:
    return _Problem(422, "validation_error", f"{field}: {message}", field)


@dataclass
class FakeServer:
    """The in-memory server behind the fakes, with a clock tests control.

    Its metrics are the server's, from what the test did: a job counts as sent or failed when
    `complete`, `fail` or `run_due` finishes it (each a batch of one, taking no time), and a
    provider's rate limit is hit only when `record_rate_limit` says so. Queue depths come from
    the jobs' statuses.

    A workspace's usage on a channel is counted as the server counts it: `used_last_second`
    from the jobs finished (sent or failed) in the last second of the fake clock, `backlog` from
    its due jobs still SCHEDULED, `throttled` when it used its limit or a hold from
    `record_rate_limit(..., held_for=...)` lasts.

    Attributes:
        now: the fake's current time (aware, UTC); `advance()` moves it.
        jobs: every job, by id, in creation order.
        rate_limit_hits: the rate-limit hits recorded and not reset, oldest first.
        workspace_limits: each workspace's own limits, sends per second, by channel (what
            `set_workspace_limits` set).
        channel_limits: each channel's limit, sends per second (0: none), as the server's
            settings would give it: 50 SMS and 100 emails, the server's defaults.
        holds: until when a workspace's provider account is held on a channel, by (workspace,
            channel) (what `record_rate_limit(..., held_for=...)` set).
    """

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    rate_limit_hits: list[FakeRateLimitHit] = field(default_factory=list)
    workspace_limits: dict[str, dict[str, int]] = field(default_factory=dict)
    channel_limits: dict[str, int] = field(default_factory=lambda: {"sms": 50, "email": 100})
    holds: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _figures: dict[str, _Figures] = field(
        init=False, repr=False, default_factory=lambda: {name: _Figures() for name in _CHANNELS}
    )

    # ---- what tests do ------------------------------------------------------------------------

    def advance(self, by: timedelta) -> None:
        """Move the clock forward."""
        self.now += by

    def complete(self, job_id: str, provider_message_id: str | None = None) -> FakeJob:
        """Mark a job sent, as a worker would."""
        job = self._job(job_id)
        self._finished(job, "success")
        job.status, job.attempts = JobStatus.COMPLETED, job.attempts + 1
        job.sent_at = job.updated_at = self.now
        job.provider_message_id = provider_message_id or f"fake-{job_id}"
        return job

    def fail(self, job_id: str, error: str = "failed in a test") -> FakeJob:
        """Mark a job failed for good, with `error` as its reason."""
        job = self._job(job_id)
        self._finished(job, "failed")
        job.status, job.attempts, job.last_error = JobStatus.FAILED, job.attempts + 1, error
        job.updated_at = self.now
        return job

    def run_due(self) -> list[FakeJob]:
        """Complete every scheduled job that is due at the fake clock's time."""
        due = [
            job
            for job in self.jobs.values()
            if job.status is JobStatus.SCHEDULED and job.scheduled_for <= self.now
        ]
        return [self.complete(job.job_id) for job in due]

    def record_rate_limit(
        self,
        workspace_id: str,
        channel: str,
        *,
        error_message: str = "rate limited by the provider (recorded in a test)",
        batch_size: int = 1,
        held_for: timedelta | None = None,
    ) -> FakeRateLimitHit:
        """Record that a provider rate-limited one of the workspace's batches, as a worker would.

        The hit counts in `get_metrics`, `get_workspace_rate_limits`, `get_workspace_limits`
        and `check_workspace_rate_limits` (at the fake clock's time) until a `reset_metrics`
        covers it. Which job it delayed is up to the test (`fail` it, or leave it scheduled).

        Args:
            workspace_id: the workspace.
            channel: ``"sms"`` or ``"email"``.
            error_message: the provider's words.
            batch_size: messages in the refused batch.
            held_for: how long the workspace's provider account is held back after it (the
                provider's Retry-After): until then the workspace is `throttled` on the
                channel, with `held_until`. Default: no hold.
        """
        if channel not in _CHANNELS:
            raise ValueError(f"channel must be 'sms' or 'email', not {channel!r}")
        if held_for is not None:
            until = self.now + held_for
            self.holds[workspace_id, channel] = max(
                until, self.holds.get((workspace_id, channel), until)
            )
        hit = FakeRateLimitHit(workspace_id, channel, self.now, batch_size, error_message)
        self.rate_limit_hits.append(hit)
        figures = self._figures[channel]
        figures.totals["rateLimited"] += 1
        figures.workspace(workspace_id)["rateLimited"] += 1
        return hit

    def _job(self, job_id: str) -> FakeJob:
        if job_id not in self.jobs:
            raise KeyError(f"no job {job_id!r} in the fake")
        return self.jobs[job_id]

    def _finished(self, job: FakeJob, outcome: str) -> None:
        if job.status.is_final:
            return  # counted when it finished (or cancelled: never sent)
        figures = self._figures[job.channel]
        for counts in (figures.totals, figures.workspace(job.workspace_id)):
            counts["total"] += 1
            counts[outcome] += 1
        figures.totals["batches"] += 1
        figures.finished_at.append(self.now)
        figures.last_processed = self.now

    # ---- what the clients call ----------------------------------------------------------------

    def respond(self, request: httpx.Request) -> httpx.Response:
        """Answer one HTTP request, as the server would."""
        body = json.loads(request.content) if request.content else None
        status, answer = self.handle(
            request.method,
            request.url.path,
            body,
            dict(request.url.params),
            request.headers.get("idempotency-key"),
        )
        return httpx.Response(status, json=answer, request=request)

    def handle(
        self, method: str, path: str, body: Any, params: dict[str, Any], key: str | None
    ) -> tuple[int, Any]:
        """Answer one API request: (status, JSON body)."""
        try:
            return self._route(method, unquote(path), body, params, key)
        except _Problem as problem:
            return problem.status, problem.body()

    def _route(
        self, method: str, path: str, body: Any, params: dict[str, Any], key: str | None
    ) -> tuple[int, Any]:
        for channel in ("sms", "email"):
            if (method, path) == ("POST", f"/api/schedule-{channel}"):
                job, created = self._schedule(channel, body, key)
                return (201 if created else 200), self._answer(job, not created)
            if (method, path) == ("POST", f"/api/schedule-{channel}/bulk"):
                return 200, self._bulk(channel, body, key)
        if method == "GET" and path == "/api/jobs":
            return 200, self._list(params)
        if (method, path) == ("POST", "/api/jobs/lookup"):
            ids = body.get("jobIds") if isinstance(body, dict) else None
            if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_LOOKUP_IDS:
                raise _invalid("jobIds", f"must be a list of 1 to {MAX_LOOKUP_IDS} job ids")
            return 200, {
                "jobs": [self.jobs[i].wire() for i in ids if i in self.jobs],
                "missing": [i for i in ids if i not in self.jobs],
            }
        if (method, path) == ("POST", "/api/jobs/cancel"):
            return 200, self._cancel_many(body)
        if path.startswith("/api/jobs/"):
            job_id = path.removeprefix("/api/jobs/")
            if job_id not in self.jobs:
                raise _Problem(404, "not_found", f"no job {job_id!r}")
            job = self.jobs[job_id]
            if method == "GET":
                return 200, job.wire()
            if method == "DELETE":
                if job.status not in (JobStatus.SCHEDULED, JobStatus.CANCELLED):
                    raise _Problem(409, "not_cancellable", f"job {job_id!r} is {job.status.value}")
                job.status, job.updated_at = JobStatus.CANCELLED, self.now
                return 200, {"success": True, "jobId": job_id, "status": "CANCELLED"}
        if (method, path) == ("GET", "/api/metrics"):
            return 200, self._metrics()
        if method == "GET" and path.startswith("/api/metrics/workspace/"):
            return 200, self._workspace_rate_limits(path.removeprefix("/api/metrics/workspace/"))
        if (method, path) == ("POST", "/api/metrics/reset"):
            return 200, self._reset(body)
        if path.startswith("/api/workspaces/") and path.endswith("/limits"):
            workspace_id = path.removeprefix("/api/workspaces/").removesuffix("/limits")
            if method == "GET":
                return 200, self._workspace_limits(workspace_id)
            if method == "PUT":
                return 200, self._set_workspace_limits(workspace_id, body)
        raise _Problem(404, "not_found", f"the fake does not serve {method} {path}")

    def _schedule(
        self, channel: str, body: dict[str, Any], key: str | None
    ) -> tuple[FakeJob, bool]:
        payload = self._validate(channel, body)
        digest = hashlib.sha256(json.dumps([channel, body], sort_keys=True).encode()).hexdigest()
        job_id = (
            hashlib.sha256(f"{body['workspaceId']}\0{key}".encode()).hexdigest()[:26].upper()
            if key
            else uuid.uuid4().hex[:26].upper()
        )
        if job_id in self.jobs:
            existing = self.jobs[job_id]
            if existing.digest != digest:
                raise _Problem(
                    409,
                    "idempotency_conflict",
                    "this Idempotency-Key was used for a different message",
                )
            return existing, False
        if "sendAt" in body:
            due = max(self.now, datetime.fromisoformat(body["sendAt"].replace("Z", "+00:00")))
        else:
            due = self.now + timedelta(milliseconds=body.get("delay") or 0)
        job = FakeJob(
            job_id=job_id, channel=channel, workspace_id=body["workspaceId"],
            contact_id=body.get("contactId"), priority=body.get("priority", "normal"),
            status=JobStatus.SCHEDULED, scheduled_for=due, created_at=self.now, updated_at=self.now,
            payload=payload, metadata=body.get("metadata") or {}, digest=digest,
        )  # fmt: skip
        self.jobs[job_id] = job
        return job, True

    @staticmethod
    def _validate(channel: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _Problem(400, "invalid_json", "the body must be a JSON object")
        workspace = body.get("workspaceId")
        if not isinstance(workspace, str) or not _IDENTIFIER.fullmatch(workspace):
            raise _invalid("workspaceId", f"is required: {_ID_RULE}")
        contact = body.get("contactId")
        if contact is not None and not (
            isinstance(contact, str) and _IDENTIFIER.fullmatch(contact)
        ):
            raise _invalid("contactId", f"must be {_ID_RULE}")
        delay = body.get("delay")
        if delay is not None and not 0 <= delay <= MAX_DELAY_MS:
            raise _invalid("delay", f"must be between 0 and {MAX_DELAY_MS} ms")
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise _invalid("metadata", "must be a JSON object")
        if metadata is not None and nesting_depth(metadata) > MAX_METADATA_DEPTH:
            raise _invalid("metadata", f"must be nested at most {MAX_METADATA_DEPTH} levels deep")
        campaign = (metadata or {}).get("campaignId")
        if isinstance(campaign, str) and len(campaign) > MAX_CAMPAIGN_ID_CHARS:
            raise _invalid(
                "metadata", f"campaignId must be at most {MAX_CAMPAIGN_ID_CHARS} characters"
            )
        if channel == "sms":
            phone, message = body.get("phoneNumber"), body.get("message")
            if not isinstance(phone, str) or not _E164.fullmatch(phone):
                raise _invalid("phoneNumber", "must be an E.164 number such as +14155550123")
            if not isinstance(message, str) or not message.strip() or len(message) > MAX_SMS_CHARS:
                rule = f"must not be blank (at most {MAX_SMS_CHARS:,} characters)"
                raise _invalid("message", rule)
            return {"phoneNumber": phone, "message": message}
        to, subject = body.get("to"), body.get("subject")
        if not isinstance(to, str) or not _EMAIL.fullmatch(to):
            raise _invalid("to", "must be an email address")
        if (
            not isinstance(subject, str)
            or not subject.strip()
            or "\n" in subject
            or "\r" in subject
        ):
            raise _invalid("subject", "must not be blank and must not contain line breaks")
        if len(subject) > MAX_SUBJECT_CHARS:
            raise _invalid("subject", f"must be at most {MAX_SUBJECT_CHARS} characters")
        if not body.get("html") and not body.get("text"):
            raise _invalid("html", "give html or text (or both)")
        payload = {"to": to, "subject": subject}
        payload.update({k: body[k] for k in ("html", "text") if body.get(k)})
        return payload

    def _answer(self, job: FakeJob, duplicate: bool) -> dict[str, Any]:
        return {
            "success": True, "jobId": job.job_id, "status": job.status.value,
            "channel": job.channel, "workspaceId": job.workspace_id,
            "scheduledFor": _iso(job.scheduled_for), "duplicate": duplicate,
        }  # fmt: skip

    def _bulk(self, channel: str, body: Any, key: str | None) -> dict[str, Any]:
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            raise _invalid("messages", "must be a non-empty list")
        if len(messages) > MAX_BULK_MESSAGES:
            raise _invalid("messages", f"at most {MAX_BULK_MESSAGES} messages per request")
        results = []
        for index, item in enumerate(messages):
            try:
                job, created = self._schedule(
                    channel, item, None if key is None else f"{key}:{index}"
                )
            except _Problem as problem:
                results.append({"index": index, "success": False, "error": problem.body()["error"]})
                continue
            answer = self._answer(job, not created)
            results.append(
                {
                    "index": index,
                    **{k: v for k, v in answer.items() if k != "channel" and k != "workspaceId"},
                }
            )
        accepted = sum(1 for result in results if result["success"])
        return {
            "success": accepted == len(results), "total": len(results), "accepted": accepted,
            "rejected": len(results) - accepted, "results": results,
        }  # fmt: skip

    def _cancel_many(self, body: Any) -> dict[str, Any]:
        # Either mode, as the server reads the body: a list of ids, or a workspace's campaign.
        if not isinstance(body, dict):
            raise _Problem(400, "invalid_json", "the body must be a JSON object")
        unknown = sorted(body.keys() - {"jobIds", "workspaceId", "campaignId"})
        if unknown:
            raise _invalid(unknown[0], "Extra inputs are not permitted")
        if "jobIds" in body:
            if "workspaceId" in body or "campaignId" in body:
                raise _invalid("jobIds", "give jobIds, or workspaceId and campaignId, not both")
            ids = body["jobIds"]
            if (
                not isinstance(ids, list)
                or not 1 <= len(ids) <= MAX_CANCEL_IDS
                or not all(isinstance(i, str) and 1 <= len(i) <= MAX_JOB_ID_CHARS for i in ids)
            ):
                rule = f"must be a list of 1 to {MAX_CANCEL_IDS} job ids of 1 to {MAX_JOB_ID_CHARS}"
                raise _invalid("jobIds", f"{rule} characters")
            unique = list(dict.fromkeys(ids))
            jobs = [self.jobs[i] for i in unique if i in self.jobs]
            not_found = len(unique) - len(jobs)
        else:
            workspace, campaign = body.get("workspaceId"), body.get("campaignId")
            if not isinstance(workspace, str) or not _IDENTIFIER.fullmatch(workspace):
                raise _invalid("workspaceId", f"is required: {_ID_RULE}")
            if not isinstance(campaign, str) or not 1 <= len(campaign) <= MAX_CAMPAIGN_ID_CHARS:
                raise _invalid(
                    "campaignId",
                    f"is required: a string of 1 to {MAX_CAMPAIGN_ID_CHARS} characters",
                )
            jobs = [
                job
                for job in self.jobs.values()
                if job.workspace_id == workspace and job.metadata.get("campaignId") == campaign
            ]
            not_found = 0
        counts = Counter(job.status for job in jobs)
        for job in jobs:
            if job.status is JobStatus.SCHEDULED:
                job.status, job.updated_at = JobStatus.CANCELLED, self.now
        return {
            "success": True,
            "cancelled": counts[JobStatus.SCHEDULED],
            "alreadyCancelled": counts[JobStatus.CANCELLED],
            "notCancellable": len(jobs) - counts[JobStatus.SCHEDULED] - counts[JobStatus.CANCELLED],
            "notFound": not_found,
        }

    def _list(self, params: dict[str, Any]) -> dict[str, Any]:
        workspace = params.get("workspaceId")
        if not workspace:
            raise _invalid("workspaceId", "is required")
        jobs = [
            job
            for job in reversed(self.jobs.values())
            if job.workspace_id == workspace
            and params.get("status") in (None, job.status.value)
            and params.get("channel") in (None, job.channel)
        ]
        start = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 50)
        page = jobs[start : start + limit]
        more = start + limit < len(jobs)
        return {
            "jobs": [job.wire() for job in page],
            "nextCursor": str(start + limit) if more else None,
        }

    def _hits(self, workspace_id: str, channel: str) -> list[FakeRateLimitHit]:
        return [
            hit
            for hit in self.rate_limit_hits
            if (hit.workspace_id, hit.channel) == (workspace_id, channel)
        ]

    def _channel_metrics(self, channel: str) -> dict[str, Any]:
        figures = self._figures[channel]
        counts = figures.totals
        total = counts["total"]
        waiting = [
            job
            for job in self.jobs.values()
            if job.channel == channel and job.status is JobStatus.SCHEDULED
        ]
        recent = [at for at in figures.finished_at if at >= self.now - _THROUGHPUT_WINDOW]
        last = figures.last_processed
        return {
            "totalProcessed": total,
            "batchesProcessed": counts["batches"],
            "successRate": round(counts["success"] / total * 100, 2) if total else 0.0,
            "avgProcessingTime": 0.0,
            "throughput": round(len(recent) / _THROUGHPUT_WINDOW.total_seconds(), 2),
            "rateExceededCount": counts["rateLimited"],
            "lastProcessedTime": _iso(last) if last else None,
            "total": total,
            "success": counts["success"],
            "failed": counts["failed"],
            "rateLimited": counts["rateLimited"],
            "retried": 0,
            "workspaces": {
                workspace: {name: n[name] for name in ("total", "success", "failed", "rateLimited")}
                for workspace, n in sorted(figures.workspaces.items())
                if any(n.values())
            },
            "queue": {
                "scheduled": sum(1 for job in waiting if job.scheduled_for > self.now),
                "due": sum(1 for job in waiting if job.scheduled_for <= self.now),
                "inFlight": sum(
                    1
                    for job in self.jobs.values()
                    if job.channel == channel and job.status is JobStatus.PROCESSING
                ),
            },
        }

    def _metrics(self) -> dict[str, Any]:
        rate_limits: dict[str, dict[str, Any]] = {}
        for hit in self.rate_limit_hits:
            hits = self._hits(hit.workspace_id, hit.channel)
            rate_limits.setdefault(hit.workspace_id, {})[hit.channel] = {
                "count": len(hits),
                "lastExceeded": _iso(max(h.at for h in hits)),
            }
        return {
            "sms": self._channel_metrics("sms"),
            "email": self._channel_metrics("email"),
            "workspaceRateLimits": dict(sorted(rate_limits.items())),
            "timestamp": _iso(self.now),
        }

    def _workspace_rate_limits(self, workspace_id: str) -> dict[str, Any]:
        if not _IDENTIFIER.fullmatch(workspace_id):
            shown = workspace_id[:MAX_IDENTIFIER_CHARS]
            raise _Problem(404, "not_found", f"no workspace {shown!r}")
        answer: dict[str, Any] = {"workspaceId": workspace_id, "timestamp": _iso(self.now)}
        for channel in _CHANNELS:
            hits = self._hits(workspace_id, channel)
            answer[channel] = {
                "count": len(hits),
                "lastExceeded": _iso(max(h.at for h in hits)) if hits else None,
                "details": [hit.wire() for hit in reversed(hits)][:_DETAILS_SHOWN],
            }
        return answer

    def _workspace_limits(self, workspace_id: str) -> dict[str, Any]:
        if not _IDENTIFIER.fullmatch(workspace_id):
            shown = workspace_id[:MAX_IDENTIFIER_CHARS]
            raise _Problem(404, "not_found", f"no workspace {shown!r}")
        answer: dict[str, Any] = {"workspaceId": workspace_id}
        for channel in _CHANNELS:
            limit = self.workspace_limits.get(workspace_id, {}).get(channel)
            jobs = [
                job
                for job in self.jobs.values()
                if (job.workspace_id, job.channel) == (workspace_id, channel)
            ]
            used: int | None = sum(
                1
                for job in jobs
                if job.status in (JobStatus.COMPLETED, JobStatus.FAILED)
                and job.attempts > 0
                and self.now - _USAGE_WINDOW < job.updated_at <= self.now
            )
            if limit is None and not self.channel_limits.get(channel):
                used = None  # the server keeps no log then: nothing counts the sends
            held = self.holds.get((workspace_id, channel))
            held = held if held is not None and held > self.now else None
            hits = self._hits(workspace_id, channel)
            answer[channel] = {
                "limit": limit,
                "channelLimit": self.channel_limits.get(channel) or None,
                "usedLastSecond": used,
                "throttled": held is not None or (limit is not None and (used or 0) >= limit),
                "heldUntil": _iso(held) if held else None,
                "backlog": sum(
                    1
                    for job in jobs
                    if job.status is JobStatus.SCHEDULED and job.scheduled_for <= self.now
                ),
                "rateLimitHits": {
                    "count": len(hits),
                    "lastExceeded": _iso(max(h.at for h in hits)) if hits else None,
                },
            }
        answer["timestamp"] = _iso(self.now)
        return answer

    def _set_workspace_limits(self, workspace_id: str, body: Any) -> dict[str, Any]:
        if not _IDENTIFIER.fullmatch(workspace_id):
            raise _invalid("workspaceId", f"must be {_ID_RULE}")
        if not isinstance(body, dict):
            raise _Problem(400, "invalid_json", "the body must be a JSON object")
        changes: dict[str, int | None] = {}
        for channel in _CHANNELS:
            if channel not in body:
                continue
            value = body[channel]
            # as the server reads JSON: 10.0 is 10, a string or a boolean is not a number
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 1 <= value <= MAX_WORKSPACE_RATE_PER_S
            ):
                raise _invalid(channel, _RATE_RULE)
            changes[channel] = value
        unknown = sorted(body.keys() - set(_CHANNELS))
        if unknown:
            raise _invalid(unknown[0], "is not a known field (check its spelling)")
        limits = self.workspace_limits.setdefault(workspace_id, {})
        for channel, value in changes.items():
            if value is None:
                limits.pop(channel, None)
            else:
                limits[channel] = value
        if not limits:
            del self.workspace_limits[workspace_id]
        return self._workspace_limits(workspace_id)

    def _reset(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _Problem(400, "invalid_json", "the body must be a JSON object")
        unknown = sorted(body.keys() - {"type", "workspaceId"})
        if unknown:
            raise _invalid(unknown[0], "Extra inputs are not permitted")
        channel, workspace = body.get("type"), body.get("workspaceId")
        if channel is not None and channel not in _CHANNELS:
            raise _invalid("type", "must be 'sms' or 'email'")
        if workspace is not None and not (
            isinstance(workspace, str) and _IDENTIFIER.fullmatch(workspace)
        ):
            raise _invalid("workspaceId", f"must be {_ID_RULE}")
        channels = _CHANNELS if channel is None else (channel,)
        for name in channels:
            if workspace is None:
                self._figures[name] = _Figures()
            else:
                self._figures[name].workspaces.pop(workspace, None)
        self.rate_limit_hits = [
            hit
            for hit in self.rate_limit_hits
            if hit.channel not in channels or workspace not in (None, hit.workspace_id)
        ]
        return {"success": True, "type": channel, "workspaceId": workspace}

    # ---- assertions ---------------------------------------------------------------------------

    def scheduled(self, channel: str) -> list[FakeJob]:
        """Jobs of a channel that were scheduled (in any status), oldest first."""
        return [job for job in self.jobs.values() if job.channel == channel]

    def assert_sms_scheduled(
        self,
        *,
        to: str | None = None,
        contains: str | None = None,
        workspace_id: str | None = None,
        count: int | None = None,
    ) -> list[FakeJob]:
        """Assert SMS were scheduled matching all the given criteria; returns them."""
        found = [
            job
            for job in self.scheduled("sms")
            if (to is None or job.payload["phoneNumber"] == to)
            and (contains is None or contains in job.payload["message"])
            and (workspace_id is None or job.workspace_id == workspace_id)
        ]
        _check(
            found,
            count,
            f"SMS to={to!r} contains={contains!r} workspace_id={workspace_id!r}",
            self.scheduled("sms"),
        )
        return found

    def assert_email_scheduled(
        self,
        *,
        to: str | None = None,
        subject_contains: str | None = None,
        workspace_id: str | None = None,
        count: int | None = None,
    ) -> list[FakeJob]:
        """Assert emails were scheduled matching all the given criteria; returns them."""
        found = [
            job
            for job in self.scheduled("email")
            if (to is None or job.payload["to"] == to)
            and (subject_contains is None or subject_contains in job.payload["subject"])
            and (workspace_id is None or job.workspace_id == workspace_id)
        ]
        _check(
            found,
            count,
            f"email to={to!r} subject_contains={subject_contains!r}",
            self.scheduled("email"),
        )
        return found

    def assert_nothing_scheduled(self) -> None:
        """Assert no job at all was scheduled."""
        assert not self.jobs, f"expected nothing scheduled, found {len(self.jobs)} job(s)"


def _check(found: list[FakeJob], count: int | None, wanted: str, seen: list[FakeJob]) -> None:
    if count is None:
        assert found, f"no {wanted} was scheduled; scheduled: {[job.payload for job in seen]}"
    else:
        assert len(found) == count, f"expected {count} {wanted}, found {len(found)}"


class _FakeClient(BaseClient[Any]):
    """What both fakes add to their real client: the fake server in place of the network."""

    def __init__(self, *, server: FakeServer | None = None, now: datetime | None = None) -> None:
        super().__init__(base_url=_FAKE_URL, max_retries=0)
        self.server = server or (FakeServer(now=now) if now else FakeServer())

    # The fake's server is reachable from the client, as tests expect: fake.complete(job_id).
    def complete(self, job_id: str, provider_message_id: str | None = None) -> Job:
        """Mark a job sent (see `FakeServer.complete`); returns it as `get_job` would."""
        return Job.model_validate(self.server.complete(job_id, provider_message_id).wire())

    def fail(self, job_id: str, error: str = "failed in a test") -> Job:
        """Mark a job failed with `error`; returns it as `get_job` would."""
        return Job.model_validate(self.server.fail(job_id, error).wire())

    def advance(self, by: timedelta) -> None:
        """Move the fake clock forward."""
        self.server.advance(by)

    def record_rate_limit(
        self, workspace_id: str, channel: str, **details: Any
    ) -> FakeRateLimitHit:
        """Record a provider's rate-limit hit; see `FakeServer.record_rate_limit`."""
        return self.server.record_rate_limit(workspace_id, channel, **details)

    def run_due(self) -> list[Job]:
        """Complete every job due at the fake clock's time."""
        return [Job.model_validate(job.wire()) for job in self.server.run_due()]

    def assert_sms_scheduled(self, **criteria: Any) -> list[FakeJob]:
        """See `FakeServer.assert_sms_scheduled`."""
        return self.server.assert_sms_scheduled(**criteria)

    def assert_email_scheduled(self, **criteria: Any) -> list[FakeJob]:
        """See `FakeServer.assert_email_scheduled`."""
        return self.server.assert_email_scheduled(**criteria)

    def assert_nothing_scheduled(self) -> None:
        """See `FakeServer.assert_nothing_scheduled`."""
        self.server.assert_nothing_scheduled()


class FakeQueueService(_FakeClient, QueueService):
    """`QueueService` with an in-memory server: same methods, models and errors; no network.

    Args:
        server: share a `FakeServer` between fakes (default: a new one).
        now: the fake clock's start (default: the real current time).
    """

    def _send(self, request: httpx.Request) -> httpx.Response:
        return self.server.respond(request)


class AsyncFakeQueueService(_FakeClient, AsyncQueueService):
    """`AsyncQueueService` with an in-memory server; see `FakeQueueService`."""

    async def _send(self, request: httpx.Request) -> httpx.Response:
        return self.server.respond(request)


@contextmanager
def mock_queue_service_api(
    base_url: str = "http://127.0.0.1:8000", server: FakeServer | None = None
) -> Iterator[FakeServer]:
    """Serve the fake over HTTP with respx, for code that calls the API with httpx directly.

    Yields the `FakeServer`, to inspect and drive. Needs respx (``pip install respx``).
    """
    try:
        import respx
    except ImportError:
        raise ImportError(
            "mock_queue_service_api needs respx: pip install respx (it comes with "
            "queue-services[dev])"
        ) from None
    fake = server or FakeServer()
    with respx.mock(base_url=base_url, assert_all_called=False) as router:
        router.route().mock(side_effect=fake.respond)
        yield fake
