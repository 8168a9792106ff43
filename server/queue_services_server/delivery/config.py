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
MAX_ADAPTED_LATENCY_S = 2.0


@dataclass(frozen=True)
class ChannelConfig:
    """How one channel is dispatched and sent."""

    channel: str
    batch_size: int
    #: Sends per window on the channel; 0 = unlimited.
    rate_limit: int
    window_ms: int
    concurrency: int
    max_retries: int
    retry_base_s: float
    retry_max_s: float
    lease_ms: int
    lookahead_ms: int
    max_in_flight: int
    #: Size the room in flight and the sends at once from the provider's latency (a rate limit
    #: is set and DISPATCH_MAX_IN_FLIGHT is not).
    adapt_to_latency: bool = False

    def room_for(self, latency_s: float) -> int:
        """Most jobs taken and not yet finished, for a provider answering in `latency_s`.

        Fixed (`max_in_flight`) unless adapting. Adapting, the room keeps a quarter second of
        the rate for the jobs waiting for the rate limiter (what a newly due workspace may wait
        behind) and adds the jobs at the provider (rate times latency) twice over: a job holds
        its room until its whole batch is recorded, so with one share a slow provider leaves
        the limiter idle between batches. Measured in `docs/delivery.md`.
        """
        if not self.adapt_to_latency:
            return self.max_in_flight
        return self.max_in_flight + 2 * self._at_provider(latency_s)

    def concurrency_for(self, latency_s: float) -> int:
        """Sends at once within a batch: `concurrency`, or, adapting, at least the provider's
        share of the room (at most a batch). Only latency raises it: more sends waiting on the
        limiter at once would let a big workspace's batch crowd out a small one's."""
        if not self.adapt_to_latency:
            return self.concurrency
        return max(self.concurrency, min(2 * self._at_provider(latency_s), self.batch_size))

    def _at_provider(self, latency_s: float) -> int:
        # Little's law: jobs at the provider = rate x latency.
        return math.ceil(self._rate_per_s() * min(latency_s, MAX_ADAPTED_LATENCY_S))

    def _rate_per_s(self) -> float:
        return self.rate_limit * 1000 / self.window_ms

    @classmethod
    def from_settings(cls, settings: Settings, channel: str) -> ChannelConfig:
        """The config of `channel` ("sms" or "email")."""
        rate = settings.sms_rate_limit if channel == "sms" else settings.email_rate_limit
        batch = settings.sms_batch_size if channel == "sms" else settings.email_batch_size
        if settings.dispatch_max_in_flight is not None:
            max_in_flight = settings.dispatch_max_in_flight
        elif rate > 0:
            # A quarter second of sends in flight: enough to keep the limit busy, little enough
            # that a workspace that just got due work waits at most about that long for its turn
            # (measured with a 20,000-job backlog ahead at 100/s: 0.07-0.14 s, against about 1 s
            # with half a second), and that jobs stay cancellable until shortly before they go.
            max_in_flight = max(rate // 4, settings.send_concurrency)
        else:
            max_in_flight = batch * 20
        return cls(
            channel=channel,
            batch_size=batch,
            rate_limit=rate,
            window_ms=1000 + settings.rate_limit_margin_ms,
            concurrency=settings.send_concurrency,
            max_retries=settings.max_retries,
            retry_base_s=settings.retry_base_s,
            retry_max_s=settings.retry_max_s,
            lease_ms=int(settings.lease_s * 1000),
            lookahead_ms=settings.dispatch_lookahead_ms,
            max_in_flight=max_in_flight,
            adapt_to_latency=rate > 0 and settings.dispatch_max_in_flight is None,
        )
