"""Settings: the one place the server reads its environment.

`Settings()` is built once, by `cli.py` (or a test), and passed down as an object; no other module
reads `os.environ`. Every variable is listed in `docs/configuration.md`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from queue_services._limits import MAX_BULK_MESSAGES, MAX_DELAY_MS
from queue_services_server.store.connection import REDIS_SCHEMES, parse_sentinel_url

ProviderName = Literal["webhook", "twilio", "smtp", "outbox", "null"]


class Settings(BaseSettings):
    """Server configuration, from environment variables or keyword arguments.

    Field names are the environment variable names, upper-cased (`redis_url` is `REDIS_URL`).
    """

    # Inputs are kept out of error messages: a bad REDIS_URL or key may hold a password.
    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, hide_input_in_errors=True
    )

    redis_url: str | None = Field(
        default=None,
        description="Redis to use, e.g. redis://127.0.0.1:6379/0, or a primary found through "
        "Sentinel: redis+sentinel://[[user]:password@]host:26379[,host:26379...]/service[/db]. "
        "`queue-services dev` starts its own when unset; `serve` requires it.",
    )

    broker_url: str | None = Field(
        default=None,
        description="Redis of Dramatiq's broker (the batch hand-over queues), in the same forms "
        "as REDIS_URL; unset = REDIS_URL. Give it another database number "
        "(redis://host:6379/1): Dramatiq's maintenance runs KEYS over its database after a "
        "worker dies, which on the jobs' database walks every job (210 ms at 1,000,000).",
    )

    @field_validator("redis_url", "broker_url")
    @classmethod
    def _a_redis_url(cls, url: str | None) -> str | None:
        # A wrong URL is refused at start, with the forms that work, not at the first request.
        if url is not None:
            scheme = url.partition("://")[0]
            if scheme not in REDIS_SCHEMES:
                raise ValueError(f"a Redis URL starts with {', '.join(REDIS_SCHEMES)}://")
            parse_sentinel_url(url)
        return url

    redis_allow_eviction: bool = Field(
        default=False,
        description="Start even when Redis's maxmemory-policy can evict keys (jobs would vanish "
        "when Redis is full). Refused by default.",
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
    api_workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Processes `queue-services serve` answers requests with, on one port; by "
        "default one per CPU this process may use. `queue-services dev` always runs one.",
    )
    admin_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("QUEUE_SERVICES_ADMIN_KEY", "admin_key"),
        description="Bootstrap admin API key, accepted besides the keys stored in Redis "
        "(`queue-services keys`). Every /api request must send a key as "
        "`Authorization: Bearer <key>`.",
    )
    api_rate_limit: int = Field(
        default=1000,
        ge=0,
        description="Requests one API key may make per `API_RATE_WINDOW_MS`; more are answered "
        "429 with Retry-After. 0 = no limit.",
    )
    api_key_cache_ms: int = Field(
        default=1000,
        ge=0,
        le=60_000,
        description="With no per-key limit (API_RATE_LIMIT=0), how long an API process trusts "
        "a key it found valid before asking Redis again: a revoked key is refused by the "
        "other API processes within this time. 0 = ask on every request.",
    )
    api_rate_window_ms: int = Field(
        default=1000, gt=0, description="Length of the per-key request window, in ms."
    )
    max_workspace_backlog: int = Field(
        default=1_000_000,
        ge=0,
        description="Most jobs one workspace may have waiting or being sent; new ones beyond it "
        "are refused with 507 (`backlog_full`). 0 = no bound.",
    )
    memory_guard_share: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="Share of Redis's maxmemory past which new jobs are refused with 507 "
        "(`store_full`), so that the jobs already accepted can still be recorded. 0 = no guard; "
        "no effect while Redis has no maxmemory.",
    )
    max_callback_backlog: int = Field(
        default=1_000_000,
        ge=0,
        description="Most status callbacks waiting to be delivered; past it, new jobs with a "
        "callback URL are refused with 503 (`callbacks_backlogged`). 0 = no bound.",
    )
    data_dir: Path = Field(
        default=Path(".queue-services"),
        validation_alias=AliasChoices("QUEUE_SERVICES_DATA_DIR", "data_dir"),
        description="Folder where `queue-services dev` keeps its embedded Redis data.",
    )
    max_delay_ms: int = Field(
        default=MAX_DELAY_MS,
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
        default=MAX_BULK_MESSAGES, gt=0, description="Most messages in one bulk request."
    )
    max_sms_segments: int = Field(
        default=10,
        gt=0,
        le=255,
        description="Most segments one SMS may take (GSM-7: 153 characters each when split, "
        "UCS-2: 67).",
    )
    max_metadata_bytes: int = Field(
        default=4096, gt=0, description="Largest `metadata` object, measured as compact JSON."
    )
    board_session_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "QUEUE_SERVICES_BOARD_SESSION_SECRET", "board_session_secret"
        ),
        description="Key that signs the board's session cookies; give every API server the "
        "same. Default: derived from QUEUE_SERVICES_ADMIN_KEY, else random per process.",
    )
    board_secure_cookie: bool = Field(
        default=False,
        validation_alias=AliasChoices("QUEUE_SERVICES_BOARD_SECURE_COOKIE", "board_secure_cookie"),
        description="Send the board's session cookie over HTTPS only (set it behind TLS).",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        validation_alias=AliasChoices("QUEUE_SERVICES_LOG_FORMAT", "log_format"),
        description="text, or json for one JSON object per line.",
    )
    log_mask_personal_data: bool = Field(
        default=True,
        validation_alias=AliasChoices("QUEUE_SERVICES_LOG_MASK", "log_mask_personal_data"),
        description="Mask phone numbers and email addresses in every log line.",
    )
    log_level: str = Field(
        default="info",
        validation_alias=AliasChoices("QUEUE_SERVICES_LOG_LEVEL", "log_level"),
        description="Log level of the server (debug, info, warning, error).",
    )

    # ---- delivery ----------------------------------------------------------------------------
    sms_provider: ProviderName = Field(
        default="webhook",
        description="Where SMS go: webhook (SMS_API_URL), twilio, outbox (dev) or null "
        "(discards; benchmarks).",
    )
    email_provider: ProviderName = Field(
        default="webhook",
        description="Where email goes: webhook (EMAIL_API_URL), smtp, outbox (dev) or null.",
    )
    sms_api_url: str | None = Field(
        default=None, description="Base URL of the CRM's SMS endpoint; SMS are POSTed to /send-sms."
    )
    email_api_url: str | None = Field(
        default=None,
        description="Base URL of the CRM's email endpoint; email is POSTed to /api/email/send.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret: webhook requests carry an HMAC-SHA256 X-Queue-Signature.",
    )
    sms_rate_limit: int = Field(default=50, ge=0, description="SMS per second; 0 = no limit.")
    email_rate_limit: int = Field(default=100, ge=0, description="Emails per second; 0 = no limit.")
    rate_limit_margin_ms: int = Field(
        default=20,
        ge=0,
        le=1000,
        description="Added to the 1 s rate window: N sends per second are spaced (1000 + this) "
        "/ N ms apart, so a few ms of jitter between a send's slot and the provider's clock "
        "cannot put N + 1 in any second there. 20 uses 98% of the limit.",
    )
    rate_limit_burst: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="Sends of a channel that may go back to back after a pause (1: always "
        "evenly spread). Never more than the limit in any second either way.",
    )
    workspace_rate_limits: dict[str, dict[Literal["sms", "email"], int]] = Field(
        default_factory=dict,
        description="Tighter per-second limits for some workspaces, as JSON: "
        '{"ws-1": {"sms": 10, "email": 20}}: the initial value of the limits set with PUT '
        "/api/workspaces/{workspaceId}/limits (written where a workspace has none yet).",
    )
    sms_batch_size: int = Field(default=50, gt=0, le=1000, description="Most SMS per batch.")
    email_batch_size: int = Field(default=100, gt=0, le=1000, description="Most emails per batch.")
    send_concurrency: int = Field(
        default=5,
        gt=0,
        le=100,
        description="Sends in progress at once within a batch of a channel without a rate "
        "limit; with one, each send goes at its own slot and the room in flight bounds them.",
    )
    job_retention_s: float = Field(
        default=7 * 24 * 3600,
        ge=0,
        description="Seconds a COMPLETED, FAILED or CANCELLED job is kept before the workers "
        "delete it (record and index entries). 0 = keep forever.",
    )
    max_retries: int = Field(
        default=3, ge=0, le=20, description="Retries of a failed send before the job is FAILED."
    )
    retry_base_s: float = Field(
        default=1.0, gt=0, description="Seconds before the first retry; doubled for each retry."
    )
    retry_max_s: float = Field(default=60.0, gt=0, description="Longest wait between retries.")
    provider_timeout_s: float = Field(
        default=10.0, gt=0, description="Timeout of each provider call, in seconds."
    )
    lease_s: float = Field(
        default=30.0,
        ge=1,
        description="Seconds a taken batch stays with its worker without a renewal; after a "
        "worker dies its batch is sent again once this has passed.",
    )
    max_lease_expiries: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Times a job's lease may expire (its worker died while sending it) before "
        "the job ends FAILED, so a message that kills its worker is not retried forever.",
    )
    dispatch_lookahead_ms: int = Field(
        default=250,
        ge=0,
        le=10_000,
        description="Jobs due within this many ms may be taken early (and sent on time).",
    )
    dispatch_max_in_flight: int | None = Field(
        default=None,
        gt=0,
        description="Most jobs per channel taken and not yet finished; default: the rate limit "
        "times the provider's measured latency (Little's law) plus a quarter second of it, or "
        "20 batches without a rate limit.",
    )

    # ---- status callbacks ----------------------------------------------------------------------
    callback_allowed_hosts: str = Field(
        default="",
        description="Comma-separated hosts a job's callbackUrl may point at (e.g. "
        "'crm.example.com,127.0.0.1'); empty: per-job callback URLs are refused.",
    )
    workspace_callback_urls: dict[str, str] = Field(
        default_factory=dict,
        description='Status callback URL per workspace, JSON: {"ws-1": "https://crm/cb"}; '
        "used for the workspace's jobs that give no callbackUrl.",
    )
    callback_secret: SecretStr | None = Field(
        default=None,
        description="Secret of the X-Queue-Signature on status callbacks "
        "(default: WEBHOOK_SECRET).",
    )
    callback_max_attempts: int = Field(
        default=6, ge=1, le=20, description="Attempts to deliver one status callback."
    )

    @property
    def callback_hosts(self) -> frozenset[str]:
        """The allowed callback hosts, lower-cased."""
        return frozenset(
            h.strip().lower() for h in self.callback_allowed_hosts.split(",") if h.strip()
        )

    # ---- Twilio -------------------------------------------------------------------------------
    twilio_account_sid: str | None = Field(default=None, description="Twilio account SID.")
    twilio_auth_token: SecretStr | None = Field(default=None, description="Twilio auth token.")
    twilio_from: str | None = Field(default=None, description="Sender number for Twilio SMS.")
    twilio_workspaces: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='Per-workspace Twilio accounts, as JSON: {"ws-1": {"accountSid": "AC...", '
        '"authToken": "...", "from": "+1..."}}.',
    )

    def rate_limit(self, channel: str) -> int:
        """The channel's limit, sends per second across every worker (0: none)."""
        return self.sms_rate_limit if channel == "sms" else self.email_rate_limit

    def provider_account(self, channel: str, workspace_id: str) -> str:
        """The provider account `workspace_id`'s messages on `channel` go out through: the
        workspace's own (its id) when the settings give it one, else ``"shared"``. A provider's
        429 holds back the account that answered it, not every workspace of the channel."""
        if (
            channel == "sms"
            and self.sms_provider == "twilio"
            and workspace_id in self.twilio_workspaces
        ):
            return workspace_id
        return "shared"

    # ---- SMTP ---------------------------------------------------------------------------------
    smtp_host: str | None = Field(default=None, description="SMTP server for the smtp provider.")
    smtp_port: int = Field(default=587, gt=0, le=65535, description="SMTP port.")
    smtp_username: str | None = Field(default=None, description="SMTP login, if any.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_from: str | None = Field(default=None, description="From address of emails.")
    smtp_starttls: bool = Field(default=True, description="Upgrade to TLS with STARTTLS.")
    smtp_tls: bool = Field(default=False, description="Implicit TLS (port 465).")

    # ---- workers ------------------------------------------------------------------------------
    worker_processes: int = Field(
        default=2, gt=0, le=64, description="Worker processes started by `queue-services worker`."
    )
    worker_threads: int = Field(default=8, gt=0, le=256, description="Threads per worker process.")
