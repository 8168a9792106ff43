"""Settings: read from the environment, documented in docs/configuration.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from queue_services_server.settings import Settings

CONFIGURATION_DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def environment_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    choices = getattr(alias, "choices", None)
    return str(choices[0]) if choices else field.upper()


def test_every_setting_is_documented() -> None:
    text = CONFIGURATION_DOC.read_text()

    missing = [
        environment_name(field)
        for field in Settings.model_fields
        if f"`{environment_name(field)}`" not in text
    ]

    assert missing == []


def test_settings_come_from_the_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example.invalid:6380/2")
    monkeypatch.setenv("QUEUE_SERVICES_PORT", "9001")
    monkeypatch.setenv("QUEUE_SERVICES_REDIS_PREFIX", "tenant-a")
    monkeypatch.setenv("MAX_BULK_MESSAGES", "20000")

    settings = Settings()

    assert settings.redis_url == "redis://example.invalid:6380/2"
    assert settings.port == 9001
    assert settings.redis_prefix == "tenant-a"
    assert settings.max_bulk_messages == 20000


def test_a_bad_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_SERVICES_PORT", "eighty")

    with pytest.raises(ValueError, match="QUEUE_SERVICES_PORT"):
        Settings()
