"""Building each channel's provider from the settings (SMS_PROVIDER, EMAIL_PROVIDER, ...)."""

from __future__ import annotations

from queue_services_server.delivery.providers._http import connections_for
from queue_services_server.delivery.providers.base import Provider
from queue_services_server.delivery.providers.null import NullProvider
from queue_services_server.delivery.providers.outbox import OutboxProvider
from queue_services_server.delivery.providers.webhook import WebhookProvider
from queue_services_server.settings import Settings
from queue_services_server.store.outbox import Outbox


class ProviderConfigError(ValueError):
    """The settings name a provider that cannot be built as configured."""


def check_provider_settings(settings: Settings) -> None:
    """Raise `ProviderConfigError` now, at start, for what `build_provider` would refuse later."""
    for channel, name in (("sms", settings.sms_provider), ("email", settings.email_provider)):
        if name == "webhook":
            url = settings.sms_api_url if channel == "sms" else settings.email_api_url
            if not url:
                variable = "SMS_API_URL" if channel == "sms" else "EMAIL_API_URL"
                raise ProviderConfigError(
                    f"{channel.upper()}_PROVIDER=webhook needs {variable} (the CRM's base URL), "
                    f"or choose another provider, e.g. {channel.upper()}_PROVIDER=outbox"
                )
        elif name == "twilio":
            if channel != "sms":
                raise ProviderConfigError("twilio sends SMS only: EMAIL_PROVIDER cannot be twilio")
            if not settings.twilio_workspaces and not (
                settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from
            ):
                raise ProviderConfigError(
                    "SMS_PROVIDER=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                    "TWILIO_FROM, or TWILIO_WORKSPACES"
                )
        elif name == "smtp":
            if channel != "email":
                raise ProviderConfigError("smtp sends email only: SMS_PROVIDER cannot be smtp")
            if not settings.smtp_host or not settings.smtp_from:
                raise ProviderConfigError("EMAIL_PROVIDER=smtp needs SMTP_HOST and SMTP_FROM")


def build_provider(channel: str, settings: Settings, outbox: Outbox) -> Provider:
    """The provider configured for `channel` (`outbox`: where the outbox provider keeps what it
    "sends")."""
    check_provider_settings(settings)
    name = settings.sms_provider if channel == "sms" else settings.email_provider
    rate = settings.rate_limit(channel)
    if name == "outbox":
        return OutboxProvider(outbox)
    if name == "null":
        return NullProvider()
    if name == "webhook":
        url = settings.sms_api_url if channel == "sms" else settings.email_api_url
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        return WebhookProvider(
            url or "",
            secret=secret,
            timeout_s=settings.provider_timeout_s,
            max_connections=connections_for(rate),
        )
    if name == "twilio":
        from queue_services_server.delivery.providers.twilio import TwilioAccount, TwilioProvider

        accounts = {
            workspace: TwilioAccount(
                account_sid=account["accountSid"],
                auth_token=account["authToken"],
                from_number=account["from"],
            )
            for workspace, account in settings.twilio_workspaces.items()
        }
        default = None
        if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from:
            default = TwilioAccount(
                account_sid=settings.twilio_account_sid,
                auth_token=settings.twilio_auth_token.get_secret_value(),
                from_number=settings.twilio_from,
            )
        return TwilioProvider(
            accounts,
            default,
            timeout_s=settings.provider_timeout_s,
            max_connections=connections_for(rate),
        )
    from queue_services_server.delivery.providers.smtp import SmtpConfig, SmtpProvider

    return SmtpProvider(
        SmtpConfig(
            host=settings.smtp_host or "",
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            from_address=settings.smtp_from or "",
            starttls=settings.smtp_starttls,
            use_tls=settings.smtp_tls,
            timeout_s=settings.provider_timeout_s,
        )
    )
