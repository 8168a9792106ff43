"""BaseClient: everything the two clients share, with no I/O.

Configuration (the constructor and `with_options`), building the HTTP request (headers, the
Idempotency-Key), turning the answer into a model or a typed error, and the retry policy live
here; `QueueService` and `AsyncQueueService` only open their httpx client, send, sleep and close.
"""

from __future__ import annotations

import abc
import copy
import os
import uuid
from collections.abc import Mapping
from typing import Any, Generic, Self, TypeVar

import httpx

from queue_services import _config, _retries
from queue_services._endpoints import Operation, ResultT
from queue_services._exceptions import make_status_error
from queue_services._version import __version__

HttpClientT = TypeVar("HttpClientT", httpx.Client, httpx.AsyncClient)


def _check_max_retries(max_retries: object) -> int:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(
            f"max_retries must be a whole number >= 0 (0 turns retries off), not {max_retries!r}"
        )
    return max_retries


class BaseClient(abc.ABC, Generic[HttpClientT]):
    """Configuration and request/response handling shared by the sync and async clients.

    The constructor's arguments are documented on `QueueService`.
    """

    _client: HttpClientT
    #: False when the httpx client is the caller's (or another client's): then `close` keeps it.
    _owns_client: bool

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = _config.DEFAULT_TIMEOUT,
        max_retries: int = _config.DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        http_client: HttpClientT | None = None,
    ) -> None:
        self._configure(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        self._owns_client = http_client is None
        self._client = self._open_http_client() if http_client is None else http_client

    @abc.abstractmethod
    def _open_http_client(self) -> HttpClientT:
        """A new httpx client of the right flavour, with this client's timeout."""

    def _configure(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
    ) -> None:
        self.base_url = (
            base_url or os.environ.get(_config.ENV_BASE_URL) or _config.DEFAULT_BASE_URL
        ).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get(_config.ENV_API_KEY)
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.max_retries = _check_max_retries(max_retries)
        self._default_headers = dict(default_headers or {})

    def with_options(
        self,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
    ) -> Self:
        """A client like this one with some options changed, sharing its connections.

        Args:
            api_key: another API key.
            timeout: seconds (or an `httpx.Timeout`) for each attempt.
            max_retries: retries after the first attempt; 0 turns them off.

        Returns:
            A client of the same class; closing it leaves the shared connections open (close
            the original for that).

        Raises:
            ValueError: `max_retries` is not a whole number of 0 or more.

        Example:
            >>> queue.with_options(max_retries=5, timeout=30).get_job(job_id)  # doctest: +SKIP
        """
        # A copy keeps whatever a subclass holds (a test fake keeps its in-memory server).
        changed = copy.copy(self)
        options = self._options(api_key=api_key, timeout=timeout, max_retries=max_retries)
        changed._configure(**options)
        changed._owns_client = False
        return changed

    def _options(self, **changes: Any) -> dict[str, Any]:
        options: dict[str, Any] = {
            "base_url": self.base_url,
            "api_key": self.api_key,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "default_headers": self._default_headers,
        }
        options.update({name: value for name, value in changes.items() if value is not None})
        return options

    def _headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "User-Agent": f"queue-services-python/{__version__}",
        }
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        headers.update(self._default_headers)
        return headers

    def _build_request(self, operation: Operation[Any]) -> httpx.Request:
        """The request for `operation`, built once per request and sent unchanged on every
        retry: that is what makes the Idempotency-Key the same on each attempt."""
        headers = self._headers()
        if operation.method == "POST":
            headers["Idempotency-Key"] = operation.idempotency_key or f"qs-{uuid.uuid4().hex}"
        return self._client.build_request(
            operation.method,
            self.base_url + operation.path,
            json=operation.json,
            params=operation.params,
            headers=headers,
            timeout=self.timeout,
        )

    def _process_response(self, operation: Operation[ResultT], response: httpx.Response) -> ResultT:
        """The answer as its model, or the typed error for a 4xx/5xx."""
        if response.is_success:
            return operation.result.model_validate(response.json())
        raise make_status_error(response, retry_after=_retries.parse_retry_after(response.headers))

    def _retry_arguments(self, sleep: Any) -> dict[str, Any]:
        return _retries.retry_arguments(self.max_retries, sleep)
