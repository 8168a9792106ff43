"""The Twilio and SMTP providers against real servers on 127.0.0.1 (a fake Twilio API over HTTP,
an aiosmtpd SMTP server)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from queue_services_server.delivery.providers.base import (
    OutboundMessage,
    PermanentProviderError,
    RetryableProviderError,
)
from queue_services_server.delivery.providers.smtp import SmtpConfig, SmtpProvider
from queue_services_server.delivery.providers.twilio import TwilioAccount, TwilioProvider
from queue_services_server.dev import free_port
from tests.harness import serving

SMS = OutboundMessage(
    "job-7", "sms", "ws-1", "c-1", {"phoneNumber": "+14155550123", "message": "Hi"}
)
EMAIL = OutboundMessage(
    "job-8",
    "email",
    "ws-1",
    "c-1",
    {"to": "jane@example.com", "subject": "Invoice", "html": "<p>Hi</p>", "text": "Hi"},
)


# ---- a fake Twilio --------------------------------------------------------------------------


@dataclass
class FakeTwilio:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    answer: tuple[int, dict[str, Any], dict[str, str]] = (201, {"sid": "SM123"}, {})


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    port = free_port()
    fake = FakeTwilio(f"http://127.0.0.1:{port}")

    async def messages(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        user, _, password = (
            base64.b64decode(request.headers["authorization"].split()[1]).decode().partition(":")
        )
        fake.requests.append(
            {
                "account": request.path_params["sid"],
                "form": form,
                "auth": (user, password),
                "token": request.headers.get("i-twilio-idempotency-token"),
            }
        )
        status, body, headers = fake.answer
        if body.get("sleep"):
            await asyncio.sleep(body["sleep"])
        return Response(orjson.dumps(body), status, headers, media_type="application/json")

    app = Starlette(
        routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", messages, methods=["POST"])]
    )
    with serving(app, port=port):
        yield fake


@pytest.fixture
async def twilio_provider(twilio: FakeTwilio) -> AsyncIterator[TwilioProvider]:
    provider = TwilioProvider(
        {"ws-1": TwilioAccount("AC-ws1", "token-ws1", "+15550001")},
        TwilioAccount("AC-default", "token-default", "+15550000"),
        base_url=twilio.url,
        timeout_s=1.0,
    )
    yield provider
    await provider.aclose()


async def test_twilio_gets_the_form_the_workspace_account_and_an_idempotency_token(
    twilio: FakeTwilio, twilio_provider: TwilioProvider
) -> None:
    sid = await twilio_provider.send(SMS)
    await twilio_provider.send(SMS)
    await twilio_provider.send(OutboundMessage("job-9", "sms", "ws-other", None, SMS.payload))

    assert sid == "SM123"
    first, second, other = twilio.requests
    assert first["account"] == "AC-ws1"
    assert first["form"] == {"To": "+14155550123", "Body": "Hi", "From": "+15550001"}
    assert first["auth"] == ("AC-ws1", "token-ws1")
    assert first["token"] == second["token"] == "job-7"
    assert (other["account"], other["form"]["From"]) == ("AC-default", "+15550000")


@pytest.mark.parametrize(
    ("answer", "error_class", "rate_limited", "retry_after"),
    [
        ((429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "2"}),
         RetryableProviderError, True, 2.0),
        ((400, {"code": 20429, "message": "Too Many Requests"}, {}),
         RetryableProviderError, True, None),
        ((500, {"message": "oops"}, {}), RetryableProviderError, False, None),
        ((400, {"code": 21211, "message": "The 'To' number is not valid."}, {}),
         PermanentProviderError, None, None),
        ((401, {"code": 20003, "message": "Authenticate"}, {}), PermanentProviderError, None, None),
    ],
)  # fmt: skip
async def test_twilio_answers_map_to_provider_errors(
    twilio: FakeTwilio,
    twilio_provider: TwilioProvider,
    answer: tuple[int, dict[str, Any], dict[str, str]],
    error_class: type[Exception],
    rate_limited: bool | None,
    retry_after: float | None,
) -> None:
    twilio.answer = answer

    with pytest.raises(error_class) as caught:
        await twilio_provider.send(SMS)

    assert str(answer[1].get("code", answer[0])) in str(caught.value)
    assert "token-ws1" not in str(caught.value)
    if isinstance(caught.value, RetryableProviderError):
        assert caught.value.rate_limited is rate_limited
        assert caught.value.retry_after == retry_after


async def test_twilio_timeouts_are_retryable(
    twilio: FakeTwilio, twilio_provider: TwilioProvider
) -> None:
    twilio.answer = (201, {"sid": "late", "sleep": 1.5}, {})

    with pytest.raises(RetryableProviderError, match="timed out"):
        await twilio_provider.send(SMS)


async def test_a_workspace_without_an_account_fails_for_good(twilio: FakeTwilio) -> None:
    provider = TwilioProvider({}, None, base_url=twilio.url)
    try:
        with pytest.raises(PermanentProviderError, match="ws-1"):
            await provider.send(SMS)
    finally:
        await provider.aclose()


# ---- SMTP -----------------------------------------------------------------------------------


@dataclass
class Mailbox:
    envelopes: list[Any] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.envelopes.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


def smtp_provider(port: int) -> SmtpProvider:
    config = SmtpConfig(
        host="127.0.0.1", port=port, from_address="noreply@example.com", starttls=False, timeout_s=2
    )
    return SmtpProvider(config)


async def test_smtp_delivers_both_bodies_with_a_stable_message_id(
    smtp_server: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp_server

    message_id = await smtp_provider(port).send(EMAIL)

    [envelope] = mailbox.envelopes
    mime = message_from_bytes(envelope.content)
    assert envelope.rcpt_tos == ["jane@example.com"]
    assert (mime["From"], mime["To"], mime["Subject"]) == (
        "noreply@example.com",
        "jane@example.com",
        "Invoice",
    )
    assert mime["Message-ID"] == message_id == "<job-8@example.com>"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode().strip()
        for part in mime.walk()
        if not part.is_multipart()
    }
    assert parts == {"text/plain": "Hi", "text/html": "<p>Hi</p>"}


@pytest.mark.parametrize(
    ("rcpt", "data", "error_class", "rate_limited"),
    [
        ("550 5.1.1 No such user", None, PermanentProviderError, None),
        (None, "554 5.7.1 Rejected as spam", PermanentProviderError, None),
        (None, "451 4.7.1 Too many messages, slow down", RetryableProviderError, True),
        ("450 4.2.1 Mailbox busy", None, RetryableProviderError, False),
    ],
)
async def test_smtp_replies_map_to_provider_errors(
    smtp_server: tuple[Mailbox, int],
    rcpt: str | None,
    data: str | None,
    error_class: type[Exception],
    rate_limited: bool | None,
) -> None:
    mailbox, port = smtp_server
    mailbox.rcpt_reply, mailbox.data_reply = rcpt, data

    with pytest.raises(error_class) as caught:
        await smtp_provider(port).send(EMAIL)

    assert (rcpt or data or "")[:3] in str(caught.value)
    if isinstance(caught.value, RetryableProviderError):
        assert caught.value.rate_limited is rate_limited


async def test_smtp_server_down_is_retryable() -> None:
    with pytest.raises(RetryableProviderError, match="unavailable"):
        await smtp_provider(free_port()).send(EMAIL)
