"""Providers: where messages finally go (webhook, Twilio, SMTP, the dev outbox)."""
