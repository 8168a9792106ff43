"""Defaults of the SDK and the names of the environment variables it falls back to."""

from __future__ import annotations

from typing import Literal

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


class NotGiven:
    """The type of `NOT_GIVEN`: an argument left out, told apart from one given as None where
    None means something of its own (``set_workspace_limits(ws, sms=None)`` removes the limit;
    leaving `sms` out leaves it as it is)."""

    __slots__ = ()
    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        # One instance, so `value is NOT_GIVEN` holds after copies and across modules.
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: The default of an argument whose None means something: "leave this as it is".
NOT_GIVEN = NotGiven()
