"""Choosing providers from settings, and refusing a configuration that cannot work, at start."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from queue_services_server.cli import main
from queue_services_server.delivery.providers.factory import (
    ProviderConfigError,
    build_provider,
    check_provider_settings,
)
from queue_services_server.settings import Settings
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.outbox import Outbox


@pytest.mark.parametrize(
    ("settings", "channel", "name"),
    [
        ({"sms_provider": "webhook", "sms_api_url": "http://crm.test"}, "sms", "webhook"),
        ({"sms_provider": "outbox", "email_provider": "outbox"}, "email", "outbox"),
        ({"sms_provider": "null", "email_provider": "outbox"}, "sms", "null"),
        (
            {"sms_provider": "twilio", "twilio_account_sid": "AC1", "twilio_auth_token": "t",
             "twilio_from": "+1555", "email_provider": "outbox"},
            "sms",
            "twilio",
        ),
        (
            {"email_provider": "smtp", "smtp_host": "mail.test", "smtp_from": "a@b.test",
             "sms_provider": "outbox"},
            "email",
            "smtp",
        ),
    ],
)  # fmt: skip
async def test_each_provider_is_built_from_its_settings(
    settings: dict[str, object], channel: str, name: str
) -> None:
    base = {"email_api_url": "http://crm.test", "sms_api_url": "http://crm.test"}
    client = aioredis.Redis()  # never connected: building a provider does no I/O

    provider = build_provider(channel, Settings(**{**base, **settings}), Outbox(client, KeySpace()))

    assert provider.name == name
    await provider.aclose()
    await client.aclose()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sms_provider": "webhook"}, "SMS_API_URL"),
        ({"sms_provider": "outbox", "email_provider": "webhook"}, "EMAIL_API_URL"),
        ({"sms_provider": "twilio", "email_provider": "outbox"}, "TWILIO_ACCOUNT_SID"),
        ({"sms_provider": "smtp", "email_provider": "outbox"}, "email only"),
        ({"sms_provider": "outbox", "email_provider": "twilio"}, "SMS only"),
        ({"sms_provider": "outbox", "email_provider": "smtp"}, "SMTP_HOST"),
    ],
)
def test_an_unworkable_configuration_is_refused_with_what_to_set(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ProviderConfigError, match=message):
        check_provider_settings(Settings(**settings))


def test_the_worker_command_stops_at_once_on_a_bad_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SMS_PROVIDER", "webhook")

    assert main(["worker"]) == 2

    assert "SMS_API_URL" in capsys.readouterr().err
