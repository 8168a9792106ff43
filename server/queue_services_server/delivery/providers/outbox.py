"""The outbox provider: the development default, which "sends" by keeping messages in Redis.

The last messages of each channel are kept (`store/outbox.py`) for the board and for
``GET /api/outbox``; nothing leaves the machine.
"""

from __future__ import annotations

from queue_services_server.clock import now_ms
from queue_services_server.delivery.providers.base import (
    OutboundMessage,
    Release,
    RetryableProviderError,
)
from queue_services_server.store.connection import StoreUnavailableError
from queue_services_server.store.outbox import Outbox


class OutboxProvider:
    """Keeps each message in the outbox."""

    name = "outbox"

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def send(self, message: OutboundMessage, *, release: Release | None = None) -> str:
        """Keep the message; its id in the outbox is the job id."""
        if release is not None:
            await release()
        entry = {
            "jobId": message.job_id,
            "channel": message.channel,
            "workspaceId": message.workspace_id,
            "contactId": message.contact_id,
            "payload": message.payload,
            "metadata": message.metadata,
            "attempt": message.attempt,
            "sentAt": now_ms(),
        }
        try:
            await self._outbox.add(message.channel, entry)
        except StoreUnavailableError as exc:
            raise RetryableProviderError(f"outbox unavailable: {exc}") from exc
        return message.job_id

    async def aclose(self) -> None:
        """Nothing to release: the Redis client belongs to the worker."""
