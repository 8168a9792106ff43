"""Verifying and reading status callbacks, and updating a tracker from them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest

from queue_services import (
    CallbackHandler,
    InMemoryJobTracker,
    JobStatus,
    SignatureVerificationError,
    parse_callback,
    verify_signature,
)
from queue_services.testing import FakeQueueService

SECRET = "callback-secret"
NOW = 1_800_000_000


def sign(body: bytes, secret: str = SECRET, at: int = NOW) -> str:
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


BODY = json.dumps(
    {"jobId": "J1", "status": "COMPLETED", "workspaceId": "ws-1", "channel": "sms",
     "attempts": 1, "at": NOW * 1000, "providerMessageId": "p-1"}
).encode()  # fmt: skip


def test_a_good_signature_passes() -> None:
    verify_signature(BODY, sign(BODY), SECRET, now=NOW + 10)


@pytest.mark.parametrize(
    ("header", "body", "message"),
    [
        (None, BODY, "no X-Queue-Signature"),
        ("garbage", BODY, "malformed"),
        (sign(BODY, secret="other"), BODY, "does not match"),
        (sign(BODY), BODY + b" ", "does not match"),
        (sign(BODY, at=NOW - 301), BODY, "old"),
        (sign(BODY, at=NOW + 301), BODY, "old"),
    ],
)
def test_bad_signatures_are_refused(header: str | None, body: bytes, message: str) -> None:
    with pytest.raises(SignatureVerificationError, match=message):
        verify_signature(body, header, SECRET, now=NOW)


def test_parse_callback_reads_the_event() -> None:
    body = json.dumps({"jobId": "J1", "status": "FAILED", "at": int(time.time() * 1000),
                       "lastError": "400 invalid"}).encode()  # fmt: skip

    event = parse_callback(body, {"x-queue-signature": sign(body, at=int(time.time()))}, SECRET)

    assert (event.job_id, event.status, event.last_error) == ("J1", JobStatus.FAILED, "400 invalid")
    assert event.at.tzinfo is UTC


def test_the_handler_updates_the_tracker_and_ignores_stale_events() -> None:
    # Given a tracked job
    fake = FakeQueueService()
    tracker = InMemoryJobTracker()
    result = fake.schedule_sms("+14155550123", "Hi", workspace_id="ws-1")
    tracker.record(result)
    handler = CallbackHandler(tracker, SECRET)
    now = int(time.time())

    def request(status: str, at_ms: int) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"jobId": result.job_id, "status": status, "at": at_ms}).encode()
        return body, {"X-Queue-Signature": sign(body, at=now)}

    # When COMPLETED arrives, then a late PROCESSING from before it
    event, tracked = handler(*request("COMPLETED", now * 1000))
    _, after_stale = handler(*request("PROCESSING", now * 1000 - 500))

    # Then the tracker says COMPLETED
    assert event.status is JobStatus.COMPLETED
    assert tracked is not None
    assert tracked.status is JobStatus.COMPLETED
    assert after_stale is not None
    assert after_stale.status is JobStatus.COMPLETED
    assert tracker.pending() == []
    assert datetime.fromtimestamp(now, UTC) == tracked.updated_at
