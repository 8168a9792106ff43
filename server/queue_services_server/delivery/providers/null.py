"""The null provider: accepts every message and sends nothing, at once.

For measuring the engine alone (benchmarks, load tests): every job completes as soon as its batch
is handled, with the job id as the provider's message id. Never for real traffic.
"""

from __future__ import annotations

from queue_services_server.delivery.providers.base import OutboundMessage, Release


class NullProvider:
    """Discards each message and reports it sent."""

    name = "null"

    async def send(self, message: OutboundMessage, *, release: Release | None = None) -> str:
        """Report the message sent; its provider id is the job id."""
        if release is not None:
            await release()
        return message.job_id

    async def aclose(self) -> None:
        """Nothing to release."""
