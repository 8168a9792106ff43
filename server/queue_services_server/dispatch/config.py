"""The delivery settings of one channel, derived once from `Settings`."""

from __future__ import annotations

from dataclasses import dataclass

from queue_services_server.settings import Settings


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
        )
