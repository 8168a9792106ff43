"""Defaults of the SDK and the names of the environment variables it falls back to."""

from __future__ import annotations

import httpx

#: Where `queue-services dev` listens; used when neither `base_url=` nor the environment says.
DEFAULT_BASE_URL = "http://127.0.0.1:8000"

#: Seconds: 10 for the whole exchange, 5 to connect.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

#: Retries after the first attempt (so 3 attempts in all).
DEFAULT_MAX_RETRIES = 2

#: Seconds before the first retry; doubled each time, up to MAX_RETRY_DELAY_S, with jitter.
INITIAL_RETRY_DELAY_S = 0.5

#: Seconds: the longest wait between two attempts that the SDK chooses itself.
MAX_RETRY_DELAY_S = 8.0

#: Seconds: the longest server-directed wait (Retry-After) the SDK sleeps through. A longer one
#: is handed to the caller as a RateLimitError with `retry_after`, rather than blocking the call.
MAX_RETRY_AFTER_S = 60.0

#: Environment variables read when the constructor is not given `base_url` / `api_key`.
ENV_BASE_URL = "QUEUE_SERVICES_URL"
ENV_API_KEY = "QUEUE_SERVICES_API_KEY"
