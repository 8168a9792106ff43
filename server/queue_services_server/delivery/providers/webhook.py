"""The webhook provider: POSTing each message to the CRM's own send endpoints, in the bodies
those endpoints already take from the CRM's Node service.

SMS go to ``POST {SMS_API_URL}/send-sms`` with ``{to, message, contactId, workspaceId, metadata}``;
email to ``POST {EMAIL_API_URL}/api/email/send`` with ``{to, subject, html, contactId,
workspaceId, metadata}`` (and ``text`` when the job has one). Every request carries
``Idempotency-Key: <job id>``, the same on each attempt of a job, and, when a secret is set,
``X-Queue-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` so the receiver can
check the sender and refuse replays.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from queue_services._retries import parse_retry_after
from queue_services_server.clock import now_s
from queue_services_server.delivery.providers._http import (
    MIN_CONNECTIONS,
    ProviderClient,
    read_capped,
)
from queue_services_server.delivery.providers.base import (
    OutboundMessage,
    PermanentProviderError,
    Release,
    RetryableProviderError,
    is_rate_limit_text,
)
from queue_services_server.delivery.signing import SIGNATURE_HEADER, signature

#: Path of each channel's endpoint under its base URL, as the CRM's endpoints are named.
PATHS = {"sms": "/send-sms", "email": "/api/email/send"}


def crm_body(message: OutboundMessage) -> dict[str, Any]:
    """The JSON body the CRM's send endpoints expect."""
    payload = message.payload
    common = {
        "contactId": message.contact_id,
        "workspaceId": message.workspace_id,
        "metadata": message.metadata,
    }
    if message.channel == "sms":
        return {"to": payload["phoneNumber"], "message": payload["message"], **common}
    body = {"to": payload["to"], "subject": payload["subject"], "html": payload.get("html")}
    if payload.get("text") is not None:
        body["text"] = payload["text"]
    return {**body, **common}


class WebhookProvider:
    """POSTs each message to `base_url` + the channel's path."""

    name = "webhook"

    def __init__(
        self,
        base_url: str,
        *,
        secret: str | None = None,
        timeout_s: float = 10.0,
        max_connections: int = MIN_CONNECTIONS,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._secret = secret.encode() if secret else None
        self._client = ProviderClient(timeout_s, max_connections, http_client=http_client)

    async def send(self, message: OutboundMessage, *, release: Release | None = None) -> str:
        """POST the message; see the module docstring for the contract."""
        body = orjson.dumps(crm_body(message))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.job_id,
            "X-Queue-Job-Id": message.job_id,
            "X-Queue-Attempt": str(message.attempt),
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = signature(self._secret, body, now_s())
        url = self._base_url + PATHS[message.channel]
        try:
            async with self._client.stream(
                "POST", url, body=body, release=release, headers=headers
            ) as answer:
                text = await read_capped(answer)
        except httpx.TimeoutException as exc:
            raise RetryableProviderError(f"webhook timed out: {url}") from exc
        except httpx.TransportError as exc:
            raise RetryableProviderError(f"webhook unreachable: {url}: {exc}") from exc
        if answer.is_success:
            return _message_id(text) or message.job_id
        detail = f"webhook answered {answer.status_code}: {text[:300].strip()}"
        if answer.status_code == 429:
            raise RetryableProviderError(
                detail, retry_after=parse_retry_after(answer.headers), rate_limited=True
            )
        if answer.status_code >= 500 or answer.status_code == 408:
            raise RetryableProviderError(
                detail,
                retry_after=parse_retry_after(answer.headers),
                rate_limited=is_rate_limit_text(text),
            )
        raise PermanentProviderError(detail)

    async def aclose(self) -> None:
        """Close the HTTP client (if it is ours)."""
        await self._client.aclose()


def _message_id(text: str) -> str | None:
    # The CRM's endpoints answer {"success": true, "messageId": "..."}; Twilio-like ones "sid".
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    for name in ("messageId", "id", "sid"):
        value = data.get(name)
        if isinstance(value, str | int) and str(value):
            return str(value)[:200]
    return None
