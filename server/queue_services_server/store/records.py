"""The job record: what Redis keeps for one job, and its encoding.

A record is one string key (``{p}:job:{id}``), chosen over a hash because it is the smallest
layout Redis offers for a job whose text is over 64 bytes (a hash of that size falls back to a
hash table: about 40% more memory per job, measured with INFO used_memory). The string holds two
parts, split at the first newline:

* the *fields* the scripts read and change (``status``, ``attempts``, ``updatedAt``, ...), one
  compact JSON object that Lua decodes and encodes with ``cjson`` (``decode_job`` and
  ``encode_job`` in ``scripts/_common.lua``);
* the *body*, what the client sent (payload and metadata), JSON exactly as the API wrote it.
  Lua never parses it: ``cjson`` would turn an empty list into ``{}`` and round large integers
  to 14 digits, and an email's html would be decoded and encoded again at every status change.

JSON escapes every newline inside a string, so the first newline is always the split. The id is
the key's, so it is not stored again; fields at their usual value (no attempts yet, not updated
since created, priority ``normal``, no digest) and absent optional fields are left out. Records
of earlier releases (one JSON object with the id inside and the body as a JSON string field
``body``) are read as well, here and in Lua, and take this form at their next change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

#: Statuses of a job, as stored and as the API shows them.
SCHEDULED = "SCHEDULED"
PROCESSING = "PROCESSING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
STATUSES = (SCHEDULED, PROCESSING, COMPLETED, FAILED, CANCELLED)

#: Statuses a job never leaves (only retention deletes it, or an operator retries a FAILED one).
FINAL_STATUSES = (COMPLETED, FAILED, CANCELLED)

#: Channels, each with its own schedules and limit.
CHANNELS = ("sms", "email")

#: Priorities, highest first: a claim serves them in this order across workspaces (claim.lua).
PRIORITIES = ("high", "normal", "low")

#: The priority of a job that names none (left out of its stored fields).
DEFAULT_PRIORITY = "normal"


@dataclass(frozen=True)
class JobRecord:
    """One job as stored. Times are integers, milliseconds since the Unix epoch."""

    id: str
    channel: str
    workspace_id: str
    priority: str
    status: str
    created_at: int
    updated_at: int
    scheduled_for: int
    #: A fingerprint of the request, kept for jobs created with an Idempotency-Key (to tell a
    #: retry from the key reused for another message); empty for the others.
    digest: str
    body: str
    contact_id: str | None = None
    attempts: int = 0
    last_error: str | None = None
    sent_at: int | None = None
    provider_message_id: str | None = None
    #: The batch that took the job for sending (while PROCESSING): a sending actor only acts on
    #: jobs still in its own batch, so a batch taken again after a lease expired is sent once.
    batch_id: str | None = None
    #: Where status changes are POSTed, if anywhere (the job's own URL or its workspace's).
    callback_url: str | None = None
    _decoded_body: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def payload(self) -> dict[str, Any]:
        """The message itself: ``{phoneNumber, message}`` or ``{to, subject, html, text}``."""
        payload: dict[str, Any] = self._body()["payload"]
        return payload

    @property
    def metadata(self) -> dict[str, Any]:
        """The caller's metadata object, as sent."""
        metadata: dict[str, Any] = self._body().get("metadata") or {}
        return metadata

    @property
    def campaign_id(self) -> str | None:
        """The campaign the job belongs to: its ``metadata.campaignId``, when that is a string."""
        campaign = self.metadata.get("campaignId")
        return campaign if isinstance(campaign, str) and campaign else None

    def _body(self) -> dict[str, Any]:
        if self._decoded_body is None:
            # Frozen dataclass: cache the decoded body without a public setter.
            object.__setattr__(self, "_decoded_body", orjson.loads(self.body))
        assert self._decoded_body is not None
        return self._decoded_body

    def encode(self) -> bytes:
        """The record as stored: its fields, a newline, its body (see the module's docstring)."""
        fields: dict[str, Any] = {
            "channel": self.channel,
            "workspaceId": self.workspace_id,
            "status": self.status,
            "createdAt": self.created_at,
            "scheduledFor": self.scheduled_for,
        }
        optional = {
            "priority": None if self.priority == DEFAULT_PRIORITY else self.priority,
            "attempts": self.attempts or None,
            "updatedAt": None if self.updated_at == self.created_at else self.updated_at,
            "digest": self.digest or None,
            "contactId": self.contact_id,
            "lastError": self.last_error,
            "sentAt": self.sent_at,
            "providerMessageId": self.provider_message_id,
            "batch": self.batch_id,
            "callbackUrl": self.callback_url,
        }
        fields.update({name: value for name, value in optional.items() if value is not None})
        return orjson.dumps(fields) + b"\n" + self.body.encode()

    @classmethod
    def decode(cls, job_id: str, raw: bytes | str) -> JobRecord:
        """The record of job `job_id` as read from Redis, in this release's form or the first
        release's (Lua's ``cjson`` writes ``null`` for cleared fields)."""
        if isinstance(raw, str):
            raw = raw.encode()
        fields_end = raw.find(b"\n")
        if fields_end < 0:  # a record of an earlier release: the body is a field
            data = orjson.loads(raw)
            body = data["body"]
        else:
            data = orjson.loads(raw[:fields_end])
            body = raw[fields_end + 1 :].decode()
        created_at = int(data["createdAt"])
        return cls(
            id=job_id,
            channel=data["channel"],
            workspace_id=data["workspaceId"],
            priority=data.get("priority") or DEFAULT_PRIORITY,
            status=data["status"],
            attempts=int(data.get("attempts") or 0),
            created_at=created_at,
            updated_at=_optional_int(data.get("updatedAt")) or created_at,
            scheduled_for=int(data["scheduledFor"]),
            digest=data.get("digest") or "",
            body=body,
            contact_id=data.get("contactId"),
            last_error=data.get("lastError"),
            sent_at=_optional_int(data.get("sentAt")),
            provider_message_id=data.get("providerMessageId"),
            batch_id=data.get("batch"),
            callback_url=data.get("callbackUrl"),
        )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
