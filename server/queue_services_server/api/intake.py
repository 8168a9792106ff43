"""Intake: turning validated messages into job records, ids, due times and digests.

No HTTP and no Redis here: the routes validate and render, the store stores; this module decides
what a new job looks like.
"""

from __future__ import annotations

import hashlib
import re

import orjson

from queue_services_server.api.schemas import EmailMessage, SmsMessage
from queue_services_server.store.ids import job_id_for_key, new_job_id
from queue_services_server.store.records import SCHEDULED, JobRecord

#: Idempotency keys: 1 to 255 printable ASCII characters (space excluded at the ends by HTTP).
_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")


def valid_idempotency_key(key: str) -> bool:
    """Whether `key` can be used as an Idempotency-Key."""
    return bool(_IDEMPOTENCY_KEY.fullmatch(key))


def digest(message: SmsMessage | EmailMessage, channel: str) -> str:
    """A fingerprint of what the client asked for, to tell a retry from a reused key.

    Taken over the channel and the validated message in a canonical form, so that field order,
    explicit nulls and absent fields do not make two identical requests look different.
    """
    canonical = orjson.dumps(
        [channel, message.model_dump(mode="json", by_alias=True, exclude_none=True)],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()[:16]


def new_record(
    message: SmsMessage | EmailMessage,
    *,
    channel: str,
    now: int,
    idempotency_key: str | None,
    callback_url: str | None = None,
) -> JobRecord:
    """The record of a new job for `message`, received at `now` (ms); `callback_url` is the
    workspace's, used when the message gives none."""
    # Only a job whose id comes from an Idempotency-Key can be asked for again, so only its
    # record keeps the request's digest.
    if idempotency_key is None:
        job_id, fingerprint = new_job_id(now), ""
    else:
        job_id = job_id_for_key(message.workspace_id, idempotency_key)
        fingerprint = digest(message, channel)
    body = {"payload": message.payload(), "metadata": message.metadata or {}}
    return JobRecord(
        id=job_id,
        channel=channel,
        workspace_id=message.workspace_id,
        contact_id=message.contact_id,
        priority=message.priority,
        status=SCHEDULED,
        created_at=now,
        updated_at=now,
        scheduled_for=message.due_ms(now),
        digest=fingerprint,
        body=orjson.dumps(body).decode(),
        callback_url=message.callback_url or callback_url,
        _decoded_body=body,
    )
