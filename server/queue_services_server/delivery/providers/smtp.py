"""The SMTP provider: email over SMTP (aiosmtplib), with STARTTLS or implicit TLS.

A job's Message-ID is derived from its id, so a retried job carries the same Message-ID and a
receiving system can tell it is the same email.
"""

from __future__ import annotations

import email.message
import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiosmtplib

from queue_services_server.delivery.providers.base import (
    OutboundMessage,
    PermanentProviderError,
    Release,
    RetryableProviderError,
    is_rate_limit_text,
)


@dataclass(frozen=True)
class SmtpConfig:
    """How to reach the SMTP server."""

    host: str
    from_address: str
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    use_tls: bool = False
    timeout_s: float = 10.0
    validate_certs: bool = True


def build_email(message: OutboundMessage, from_address: str) -> email.message.EmailMessage:
    """The MIME message: plain text and/or HTML (multipart/alternative when both)."""
    payload = message.payload
    mime = email.message.EmailMessage()
    mime["From"] = from_address
    mime["To"] = payload["to"]
    mime["Subject"] = payload["subject"]
    mime["Date"] = email.utils.formatdate(localtime=False)
    domain = from_address.rpartition("@")[2] or "queue-services.local"
    mime["Message-ID"] = f"<{message.job_id}@{domain}>"
    text, html = payload.get("text"), payload.get("html")
    if text is not None:
        mime.set_content(text)
        if html is not None:
            mime.add_alternative(html, subtype="html")
    else:
        mime.set_content(html or "", subtype="html")
    return mime


class SmtpProvider:
    """Sends each email in its own SMTP session."""

    name = "smtp"

    def __init__(self, config: SmtpConfig, *, from_by_workspace: Mapping[str, str] | None = None):
        self._config = config
        self._from_by_workspace = dict(from_by_workspace or {})

    async def send(self, message: OutboundMessage, *, release: Release | None = None) -> str:
        """Send the email; returns its Message-ID."""
        if message.channel != "email":
            raise PermanentProviderError("the smtp provider sends email only")
        config = self._config
        sender = self._from_by_workspace.get(message.workspace_id, config.from_address)
        mime = build_email(message, sender)
        if release is not None:
            # One session per message: the connection is made after the slot, as it comes.
            await release()
        try:
            await aiosmtplib.send(
                mime,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=config.use_tls,
                start_tls=config.starttls and not config.use_tls,
                timeout=config.timeout_s,
                validate_certs=config.validate_certs,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            raise _reply_error(refusal.code, refusal.message) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _reply_error(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connection refused, timeouts, a dropped session: worth another try.
            raise RetryableProviderError(f"smtp unavailable: {type(exc).__name__}: {exc}") from exc
        return str(mime["Message-ID"])

    async def aclose(self) -> None:
        """Nothing to release: each send opens and closes its own session."""


#: What mail servers say when they throttle a sender ("451 4.7.1 Too many messages, slow down").
_SLOW_DOWN = re.compile(r"too many|\brate\b|slow down|throttl", re.IGNORECASE)


def _says_slow_down(text: str) -> bool:
    return is_rate_limit_text(text) or bool(_SLOW_DOWN.search(text))


def _reply_error(code: int, text: str) -> RetryableProviderError | PermanentProviderError:
    # 4xx replies are transient (greylisting, "slow down", mailbox busy); 5xx are final.
    detail = f"smtp {code}: {text}"
    if 400 <= code < 500:
        return RetryableProviderError(detail, rate_limited=code == 421 or _says_slow_down(text))
    return PermanentProviderError(detail)
