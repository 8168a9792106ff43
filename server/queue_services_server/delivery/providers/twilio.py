"""The Twilio provider: SMS through Twilio's Messages API, with an account per workspace.

Each workspace may have its own account and sender (`TWILIO_WORKSPACES`); the others use the
default account. Every attempt of a job carries the same ``I-Twilio-Idempotency-Token`` (the job
id), so a retried request does not send twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
import orjson

from queue_services._retries import parse_retry_after
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
)

#: Twilio's error code for "too many requests".
TOO_MANY_REQUESTS = 20429


@dataclass(frozen=True)
class TwilioAccount:
    """One Twilio account and the sender it sends from."""

    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str | None = None
    messaging_service_sid: str | None = None


class TwilioProvider:
    """Sends SMS with Twilio, choosing the account by workspace."""

    name = "twilio"

    def __init__(
        self,
        accounts: Mapping[str, TwilioAccount],
        default: TwilioAccount | None,
        *,
        base_url: str = "https://api.twilio.com",
        timeout_s: float = 10.0,
        max_connections: int = MIN_CONNECTIONS,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._accounts = dict(accounts)
        self._default = default
        self._base_url = base_url.rstrip("/")
        self._client = ProviderClient(timeout_s, max_connections, http_client=http_client)

    def _account(self, workspace_id: str) -> TwilioAccount:
        account = self._accounts.get(workspace_id, self._default)
        if account is None:
            raise PermanentProviderError(
                f"no Twilio account for workspace {workspace_id!r} and no default account"
            )
        return account

    async def send(self, message: OutboundMessage, *, release: Release | None = None) -> str:
        """Create the message at Twilio; returns its SID."""
        if message.channel != "sms":
            raise PermanentProviderError("the twilio provider sends SMS only")
        account = self._account(message.workspace_id)
        form = {"To": message.payload["phoneNumber"], "Body": message.payload["message"]}
        if account.messaging_service_sid:
            form["MessagingServiceSid"] = account.messaging_service_sid
        else:
            form["From"] = account.from_number or ""
        url = f"{self._base_url}/2010-04-01/Accounts/{account.account_sid}/Messages.json"
        headers = {
            "I-Twilio-Idempotency-Token": message.job_id,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        try:
            async with self._client.stream(
                "POST",
                url,
                body=urlencode(form).encode(),
                release=release,
                auth=(account.account_sid, account.auth_token),
                headers=headers,
            ) as answer:
                text = await read_capped(answer)
        except httpx.TimeoutException as exc:
            raise RetryableProviderError("twilio timed out") from exc
        except httpx.TransportError as exc:
            raise RetryableProviderError(f"twilio unreachable: {type(exc).__name__}") from exc
        data = _json(text)
        if answer.is_success:
            sid = data.get("sid")
            return str(sid) if sid else message.job_id
        code = data.get("code")
        detail = f"twilio {code or answer.status_code}: {data.get('message') or text[:200]}"
        if answer.status_code == 429 or code == TOO_MANY_REQUESTS:
            raise RetryableProviderError(
                detail, retry_after=parse_retry_after(answer.headers), rate_limited=True
            )
        if answer.status_code >= 500:
            raise RetryableProviderError(detail, retry_after=parse_retry_after(answer.headers))
        raise PermanentProviderError(detail)

    async def aclose(self) -> None:
        """Close the HTTP client (if it is ours)."""
        await self._client.aclose()


def _json(text: str) -> dict[str, object]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
