"""Settings: the one place the server reads its environment.

`Settings()` is built once, by `cli.py` (or a test), and passed down as an object; no other module
reads `os.environ`. Every variable is listed in `docs/configuration.md`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: 366 days in milliseconds: the longest delay (or `sendAt` distance) accepted by default.
DEFAULT_MAX_DELAY_MS = 366 * 24 * 3600 * 1000


class Settings(BaseSettings):
    """Server configuration, from environment variables or keyword arguments.

    Field names are the environment variable names, upper-cased (`redis_url` is `REDIS_URL`).
    """

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    redis_url: str | None = Field(
        default=None,
        description="Redis to use, e.g. redis://127.0.0.1:6379/0. `queue-services dev` starts "
        "its own when unset; `serve` requires it.",
    )
    redis_prefix: str = Field(
        default="qs",
        pattern=r"^[A-Za-z0-9_.-]{1,32}$",
        validation_alias=AliasChoices("QUEUE_SERVICES_REDIS_PREFIX", "redis_prefix"),
        description="Prefix of every Redis key, so several deployments can share one Redis.",
    )
    host: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("QUEUE_SERVICES_HOST", "host"),
        description="Interface the API server binds to.",
    )
    port: int = Field(
        default=8000,
        ge=0,
        le=65535,
        validation_alias=AliasChoices("QUEUE_SERVICES_PORT", "port"),
        description="TCP port of the API server.",
    )
    admin_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("QUEUE_SERVICES_ADMIN_KEY", "admin_key"),
        description="Bootstrap admin API key. When set, /api requests must send "
        "`Authorization: Bearer <key>`; when unset the API is open (development only).",
    )
    data_dir: Path = Field(
        default=Path(".queue-services"),
        validation_alias=AliasChoices("QUEUE_SERVICES_DATA_DIR", "data_dir"),
        description="Folder where `queue-services dev` keeps its embedded Redis data.",
    )
    max_delay_ms: int = Field(
        default=DEFAULT_MAX_DELAY_MS,
        gt=0,
        description="Longest accepted delay, in milliseconds (also bounds `sendAt`).",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, gt=0, description="Largest body of a single scheduling request."
    )
    max_bulk_body_bytes: int = Field(
        default=32 * 1024 * 1024, gt=0, description="Largest body of a bulk scheduling request."
    )
    max_bulk_messages: int = Field(
        default=10_000, gt=0, description="Most messages in one bulk request."
    )
    max_metadata_bytes: int = Field(
        default=4096, gt=0, description="Largest `metadata` object, measured as compact JSON."
    )
    log_level: str = Field(
        default="info",
        validation_alias=AliasChoices("QUEUE_SERVICES_LOG_LEVEL", "log_level"),
        description="Log level of the server (debug, info, warning, error).",
    )
