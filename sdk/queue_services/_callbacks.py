"""Status callbacks in app code: checking their signature, reading them, updating a tracker.

The server POSTs each status change of a job that has a callback URL, with
``X-Queue-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import ValidationError, field_validator

from queue_services._exceptions import QueueServiceError
from queue_services._models import Channel, JobStatus, _Model
from queue_services._tracking import JobTracker, TrackedJob

#: Seconds a signature stays valid: older (or future) timestamps are refused as replays.
DEFAULT_TOLERANCE_S = 300

SIGNATURE_HEADER = "X-Queue-Signature"


class SignatureVerificationError(QueueServiceError):
    """Raised when a callback's signature is missing, malformed, wrong or too old."""


class CallbackEvent(_Model):
    """One status change, as the server POSTs it."""

    job_id: str
    status: JobStatus
    workspace_id: str | None = None
    channel: Channel | None = None
    attempts: int = 0
    at: datetime
    last_error: str | None = None
    provider_message_id: str | None = None

    @field_validator("at", mode="before")
    @classmethod
    def _from_ms(cls, value: object) -> object:
        if isinstance(value, int):
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        return value


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str | bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Check a callback's ``X-Queue-Signature`` against its raw body.

    Args:
        body: the request body exactly as received (bytes, before any JSON parsing).
        header: the ``X-Queue-Signature`` header value.
        secret: the shared secret (the server's ``CALLBACK_SECRET`` or ``WEBHOOK_SECRET``).
        tolerance_s: how old (or how far ahead) a timestamp may be, in seconds.
        now: the current Unix time (default: the clock); for tests.

    Raises:
        SignatureVerificationError: the header is missing or malformed, the MAC does not match,
            or the timestamp is outside the tolerance (a replay).
    """
    if not header:
        raise SignatureVerificationError(f"no {SIGNATURE_HEADER} header")
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    timestamp, mac = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or not mac:
        raise SignatureVerificationError(f"malformed {SIGNATURE_HEADER}: {header[:100]!r}")
    key = secret.encode() if isinstance(secret, str) else secret
    expected = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac):
        raise SignatureVerificationError("the signature does not match the body")
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > tolerance_s:
        raise SignatureVerificationError(
            f"the signature is {int(age)} s old (at most {tolerance_s} s): a replay?"
        )


def parse_callback(
    body: bytes,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> CallbackEvent:
    """Verify a callback request and read its event.

    Raises:
        SignatureVerificationError: see `verify_signature`; also for a body that is not an event.
    """
    header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
    verify_signature(body, header, secret, tolerance_s=tolerance_s)
    try:
        return CallbackEvent.model_validate_json(body)
    except ValidationError as exc:
        raise SignatureVerificationError(f"the body is not a status event: {exc}") from exc


class CallbackHandler:
    """A ready handler for a callback endpoint: verifies, reads, and updates a tracker.

    Example (any web framework; Starlette here):
        >>> handler = CallbackHandler(tracker, secret="...")  # doctest: +SKIP
        >>> async def callback(request):  # doctest: +SKIP
        ...     try:
        ...         handler(await request.body(), request.headers)
        ...     except SignatureVerificationError:
        ...         return Response(status_code=401)
        ...     return Response(status_code=204)
    """

    def __init__(
        self, tracker: JobTracker, secret: str | bytes, *, tolerance_s: int = DEFAULT_TOLERANCE_S
    ) -> None:
        self._tracker = tracker
        self._secret = secret
        self._tolerance_s = tolerance_s

    def __call__(
        self, body: bytes, headers: Mapping[str, str]
    ) -> tuple[CallbackEvent, TrackedJob | None]:
        """Handle one callback request; returns the event and the tracked job it updated."""
        event = parse_callback(body, headers, self._secret, tolerance_s=self._tolerance_s)
        return event, self._tracker.apply(event.job_id, event.status, event.last_error, event.at)
