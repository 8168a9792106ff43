"""The Provider interface and the errors a provider raises.

A provider sends one message and returns the provider's message id, or raises:

* `RetryableProviderError` for what may work later (network errors, timeouts, 5xx, 429), with
  `retry_after` in seconds when the provider said how long to wait, and `rate_limited` for 429s;
* `PermanentProviderError` for what will not (other 4xx, a refused recipient).

The sending actor decides from the class alone; providers never retry by themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Release(Protocol):
    """Awaited by a provider right before the message itself goes out (for HTTP: after the
    connection is made and the headers are written, before the body): it returns at the send's
    slot, so that the provider receives the message then, however long the connection took. A
    provider that made a new connection for this send says when it was ready (`connected_at`,
    `time.monotonic()`): it is then not used before it has settled (`NEW_CONNECTION_SETTLE_S`)."""

    def __call__(self, connected_at: float | None = None) -> Awaitable[None]: ...


#: Seconds a new connection is open before it carries a message that goes at its slot. A
#: provider may read a new connection's request well after the connection was made: its listen
#: queue is drained at the pace of its accept loop, a proxy in front accepts at once and connects
#: to its backend, a server pauses before reading (the benchmark's `tests/faulty_provider.py`: a
#: listen queue of 4 drained one accept per 10 ms reads up to 40 ms late; a 50 ms read delay,
#: 50 ms). A message written at its slot on such a connection would land on the slots after its
#: own; written this long after the connection was made, it lands at its slot. The pacer starts
#: every paced send this much before its slot (`ChannelPacer.lead_s`), so a new connection has
#: settled by then; one that has not (a connection slow to make) waits, misses its slot and
#: takes another.
NEW_CONNECTION_SETTLE_S = 0.1


@dataclass(frozen=True)
class OutboundMessage:
    """One message to send, as the actor hands it to a provider.

    Attributes:
        job_id: the job; also the idempotency key, the same on every attempt of this job.
        channel: ``"sms"`` or ``"email"``.
        workspace_id: the sending workspace (providers may pick credentials or sender by it).
        contact_id: the caller's id of the recipient, if any.
        payload: ``{phoneNumber, message}`` for SMS, ``{to, subject, html?, text?}`` for email.
        metadata: the caller's metadata, passed through.
        attempt: 1 for the first attempt, 2 for the first retry, ...
    """

    job_id: str
    channel: str
    workspace_id: str
    contact_id: str | None
    payload: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1


class ProviderError(Exception):
    """Base class of provider failures; `message` is kept on the job as its last error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RetryableProviderError(ProviderError):
    """A failure that may succeed later: the job goes back on the schedule with backoff."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, rate_limited: bool = False
    ) -> None:
        super().__init__(message)
        #: Seconds the provider asked to wait, if it said.
        self.retry_after = retry_after
        #: True for a rate-limit answer (HTTP 429 and the like): it is counted for the workspace
        #: and slows the channel down.
        self.rate_limited = rate_limited


class PermanentProviderError(ProviderError):
    """A failure that will not succeed on retry: the job ends FAILED with this message."""


class Provider(Protocol):
    """Sends messages of one channel."""

    #: A short name for logs and settings (``"webhook"``, ``"twilio"``, ``"smtp"``, ``"outbox"``).
    name: str

    async def send(self, message: OutboundMessage, *, release: Release | None = None) -> str:
        """Send `message`; return the provider's id for it (or the job id if it has none).
        Await `release` right before the message goes out (first thing, if the provider sends
        in one step); an exception it raises ends the send with nothing sent.

        Raises:
            RetryableProviderError: the send may work later.
            PermanentProviderError: it will not.
        """
        ...

    async def aclose(self) -> None:
        """Release connections; called once when the worker stops."""
        ...


def is_rate_limit_text(text: str) -> bool:
    """Whether an error text says "rate limited" (429, "rate limit", "too many requests", and
    WhatsApp's 130429 and 131056). WhatsApp's 131051 is not one: it means an unsupported message
    type, though the Node service counted it as a rate limit."""
    lowered = text.lower()
    return (
        "429" in lowered
        or "rate limit" in lowered
        or "too many requests" in lowered
        or "130429" in lowered
        or "131056" in lowered
    )
