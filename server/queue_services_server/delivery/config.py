"""The delivery settings of one channel, derived once from `Settings`, and the names of its
broker queue and sending actor."""

from __future__ import annotations

import math
from dataclasses import dataclass

from queue_services_server.settings import Settings

#: The broker queue of each channel's batches, named as the CRM's BullMQ service named them.
#: Read by the CLI to start Dramatiq on them, so this module must not import Dramatiq.
QUEUES = {"sms": "send-sms-queue", "email": "send-email-queue"}


def actor_name(channel: str) -> str:
    """The name of the actor that sends `channel`'s batches (kept in every queued message, so it
    must not change between releases)."""
    return f"send_{channel}_batch"


#: Longest provider latency, in seconds, that sizing follows: a provider slower than this is
#: failing, and more in flight would only pile up jobs behind it.
MAX_ADAPTED_LATENCY_S = 5.0

#: Seconds of sends the room keeps beyond those at the provider: the jobs between being taken and
#: their slot (the broker's pick-up, the pacer's horizon). A newly due workspace waits about this
#: long behind a backlog for its first send.
PIPELINE_S = 0.5

#: Seconds of the rate the room must have free before a claim is made (see `least_claim`).
CLAIM_S = 0.2

#: Milliseconds: the pacer gives slots at most this far ahead. Longer: fewer Redis calls; shorter:
#: a newly due workspace waits less behind slots already given, and a late send is known sooner.
PACING_HORIZON_MS = 400

#: Milliseconds after its slot a send whose request has not started yet is late: from then on it
#: counts as a send in every window until its request starts (a slow connect), so that it cannot
#: arrive on top of the sends of the next second.
LATE_AFTER_MS = 10


@dataclass(frozen=True)
class ChannelConfig:
    """How one channel is dispatched and sent."""

    channel: str
    batch_size: int
    #: Sends per second on the channel; 0 = unlimited.
    rate_limit: int
    #: The window a limit counts over: 1 s plus the margin that absorbs jitter.
    window_ms: int
    #: Sends that may go back to back after a pause (1: always evenly spread).
    burst: int
    #: Sends at once within a batch when the channel has no rate limit.
    concurrency: int
    max_retries: int
    retry_base_s: float
    retry_max_s: float
    lease_ms: int
    max_lease_expiries: int
    lookahead_ms: int
    #: A fixed room in flight (DISPATCH_MAX_IN_FLIGHT), or None to follow the provider's latency.
    fixed_room: int | None
    provider_timeout_s: float

    def room_for(self, latency_s: float) -> int:
        """Most jobs taken and not yet finished, for a provider answering in `latency_s`.

        With a rate limit, Little's law: the sends at the provider (rate x latency) and
        `PIPELINE_S` of the rate on their way to it, and at least `concurrency`. Without one,
        20 batches. DISPATCH_MAX_IN_FLIGHT fixes it.
        """
        if self.fixed_room is not None:
            return self.fixed_room
        if self.rate_limit <= 0:
            return self.batch_size * 20
        latency_s = min(latency_s, MAX_ADAPTED_LATENCY_S)
        return max(math.ceil(self.rate_limit * (latency_s + PIPELINE_S)), self.concurrency)

    def tier_window_ms(self, latency_s: float) -> int:
        """Ms of a tier's sends a workspace may have in flight: the provider's latency and the
        pipeline, so a workspace limited to a few sends per second holds only those."""
        return int((min(latency_s, MAX_ADAPTED_LATENCY_S) + PIPELINE_S) * 1000)

    def least_claim(self, room: int) -> int:
        """The fewest jobs worth a claim (a batch, a broker message, a sender): `CLAIM_S` of the
        rate, or a batch (without a rate limit), or the whole room if it is smaller. Fewer would
        cost Redis calls per message (measured without a limit: claims of 1 as the room came
        back message by message made batches of 5 on average, at a seventh of the throughput);
        more would keep a newly due workspace waiting for room."""
        per_claim = self.batch_size
        if self.rate_limit > 0:
            per_claim = min(math.ceil(self.rate_limit * CLAIM_S), self.batch_size)
        return max(1, min(per_claim, room))

    @classmethod
    def from_settings(cls, settings: Settings, channel: str) -> ChannelConfig:
        """The config of `channel` ("sms" or "email")."""
        rate = settings.rate_limit(channel)
        batch = settings.sms_batch_size if channel == "sms" else settings.email_batch_size
        return cls(
            channel=channel,
            batch_size=batch,
            rate_limit=rate,
            window_ms=1000 + settings.rate_limit_margin_ms,
            burst=settings.rate_limit_burst,
            concurrency=settings.send_concurrency,
            max_retries=settings.max_retries,
            retry_base_s=settings.retry_base_s,
            retry_max_s=settings.retry_max_s,
            lease_ms=int(settings.lease_s * 1000),
            max_lease_expiries=settings.max_lease_expiries,
            lookahead_ms=settings.dispatch_lookahead_ms,
            fixed_room=settings.dispatch_max_in_flight,
            provider_timeout_s=settings.provider_timeout_s,
        )
