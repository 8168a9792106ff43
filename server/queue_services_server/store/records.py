"""The job record: what Redis keeps for one job, and its JSON encoding.

A record is one compact JSON object in a string key (``{p}:job:{id}``), chosen over a hash because
it is the smallest layout Redis offers for a job whose text is over 64 bytes (a hash of that size
falls back to a hash table: about 40% more memory per job, measured with INFO used_memory).

Lua scripts change a record's mutable fields (``status``, ``updatedAt``, ...) with ``cjson``. What
the client sent (payload and metadata) is kept as a JSON *string* in ``body``, so that Lua never
decodes it: ``cjson`` would turn an empty list into ``{}`` and round large integers to 14 digits.
Absent optional fields are left out of the JSON to keep records small.
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

    def to_json(self) -> bytes:
        """Encode for Redis, leaving out empty optional fields."""
        data: dict[str, Any] = {
            "id": self.id,
            "channel": self.channel,
            "workspaceId": self.workspace_id,
            "priority": self.priority,
            "status": self.status,
            "attempts": self.attempts,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "scheduledFor": self.scheduled_for,
            "digest": self.digest,
            "body": self.body,
        }
        optional = {
            "contactId": self.contact_id,
            "lastError": self.last_error,
            "sentAt": self.sent_at,
            "providerMessageId": self.provider_message_id,
            "batch": self.batch_id,
            "callbackUrl": self.callback_url,
        }
        data.update({name: value for name, value in optional.items() if value is not None})
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, raw: bytes | str) -> JobRecord:
        """Decode a record read from Redis (Lua's ``cjson`` writes ``null`` for cleared fields)."""
        data = orjson.loads(raw)
        return cls(
            id=data["id"],
            channel=data["channel"],
            workspace_id=data["workspaceId"],
            priority=data["priority"],
            status=data["status"],
            attempts=int(data.get("attempts") or 0),
            created_at=int(data["createdAt"]),
            updated_at=int(data["updatedAt"]),
            scheduled_for=int(data["scheduledFor"]),
            digest=data["digest"],
            body=data["body"],
            contact_id=data.get("contactId"),
            last_error=data.get("lastError"),
            sent_at=_optional_int(data.get("sentAt")),
            provider_message_id=data.get("providerMessageId"),
            batch_id=data.get("batch"),
            callback_url=data.get("callbackUrl"),
        )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
