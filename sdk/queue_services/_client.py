"""QueueService and AsyncQueueService: the same API, sync and async, written once.

Every operation is one builder in `_endpoints`, whose signature and docstring are the public
method's. `sync_endpoint` and `async_endpoint` turn a builder into a method of each client: the
method runs the builder's request (or its flow of requests) through that client's I/O, each
request retried under the one policy of `_retries`. Everything else the clients share is in
`BaseClient`; each client implements only opening its httpx client, sending one request, sleeping
between attempts, and closing.

Adding an endpoint therefore means one builder in `_endpoints` and one line in each client
(``name = sync_endpoint(_endpoints.name)``, ``name = async_endpoint(_endpoints.name)``), plus its
name in `ENDPOINTS`.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import typing
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeAlias

import httpx
import tenacity
from pydantic import BaseModel

from queue_services import _endpoints
from queue_services._base_client import BaseClient
from queue_services._endpoints import Exchange, Operation, ResultT, as_flow
from queue_services._exceptions import translate_transport_errors

P = ParamSpec("P")


def _result_model(builder: Callable[..., Exchange[Any]]) -> type[BaseModel]:
    """The model a call of `builder` ends with: ``R`` of its ``Operation[R]`` or ``Flow[R]``."""
    model: type[BaseModel] = typing.get_args(typing.get_type_hints(builder)["return"])[-1]
    return model


def _as_method(
    function: Callable[..., Any], builder: Callable[..., Exchange[Any]], owner: str
) -> None:
    """Give `function`, a method of class `owner`, the builder's name, docs and signature (with
    ``self`` first, returning the result model)."""
    signature = inspect.signature(builder)
    model = _result_model(builder)
    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    function.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_parameter, *signature.parameters.values()], return_annotation=model
    )
    function.__name__ = builder.__name__
    function.__qualname__ = f"{owner}.{builder.__name__}"
    function.__doc__ = builder.__doc__
    function.__annotations__ = {**builder.__annotations__, "return": model}
    # For typing.get_type_hints: the parameters' annotations name things of `_endpoints`.
    function.__wrapped__ = builder  # type: ignore[attr-defined]


# ---- the sync runner --------------------------------------------------------------------------


def _request(client: QueueService, operation: Operation[ResultT]) -> ResultT:
    request = client._build_request(operation)
    retrying = tenacity.Retrying(**client._retry_arguments(client._sleep))
    return retrying(lambda: client._process_response(operation, client._send(request)))


def sync_endpoint(
    builder: Callable[P, Exchange[ResultT]],
) -> Callable[Concatenate[QueueService, P], ResultT]:
    """A method of `QueueService` that runs `builder`'s request or flow and returns its result."""

    def endpoint(self: QueueService, /, *args: P.args, **kwargs: P.kwargs) -> ResultT:
        flow = as_flow(builder(*args, **kwargs))
        answer: Any = None
        while True:
            try:
                operation = flow.send(answer)
            except StopIteration as done:
                result: ResultT = done.value
                return result
            answer = _request(self, operation)

    _as_method(endpoint, builder, "QueueService")
    return endpoint


# ---- the async runner -------------------------------------------------------------------------


async def _arequest(client: AsyncQueueService, operation: Operation[ResultT]) -> ResultT:
    request = client._build_request(operation)
    retrying = tenacity.AsyncRetrying(**client._retry_arguments(client._sleep))

    async def attempt() -> ResultT:
        return client._process_response(operation, await client._send(request))

    return await retrying(attempt)


def async_endpoint(
    builder: Callable[P, Exchange[ResultT]],
) -> Callable[Concatenate[AsyncQueueService, P], Coroutine[Any, Any, ResultT]]:
    """A method of `AsyncQueueService` that runs `builder`'s request or flow, to ``await``."""

    async def endpoint(self: AsyncQueueService, /, *args: P.args, **kwargs: P.kwargs) -> ResultT:
        flow = as_flow(builder(*args, **kwargs))
        answer: Any = None
        while True:
            try:
                operation = flow.send(answer)
            except StopIteration as done:
                result: ResultT = done.value
                return result
            answer = await _arequest(self, operation)

    _as_method(endpoint, builder, "AsyncQueueService")
    return endpoint


# ---- the clients ------------------------------------------------------------------------------


class QueueService(BaseClient[httpx.Client]):
    """A client of the queue-services API.

    Args:
        base_url: the server, e.g. ``"https://queue.example.com"``. Defaults to the
            ``QUEUE_SERVICES_URL`` environment variable, else ``http://127.0.0.1:8000``.
        api_key: sent as ``Authorization: Bearer <api_key>``. Defaults to the
            ``QUEUE_SERVICES_API_KEY`` environment variable; none is sent if neither is set.
        timeout: seconds (or an `httpx.Timeout`) for each attempt; 10 s, 5 s to connect.
        max_retries: retries after the first attempt for connection errors, timeouts, 408,
            429 and 5xx (2, so 3 attempts); 0 turns retries off.
        default_headers: extra headers for every request.
        http_client: an `httpx.Client` of your own (proxies, transports); you close it.

    Example:
        >>> with QueueService(base_url="http://127.0.0.1:8000") as queue:  # doctest: +SKIP
        ...     result = queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-1")
        ...     queue.get_job(result.job_id).status
        <JobStatus.SCHEDULED: 'SCHEDULED'>
    """

    # ---- I/O: the only code that differs from AsyncQueueService ------------------------------

    def _open_http_client(self) -> httpx.Client:
        return httpx.Client(timeout=self.timeout)

    def _send(self, request: httpx.Request) -> httpx.Response:
        with translate_transport_errors(request):
            return self._client.send(request)

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        """Close the connections (unless the `http_client` was yours)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- the API: one line per endpoint (see `_endpoints`) -----------------------------------

    schedule_sms = sync_endpoint(_endpoints.schedule_sms)
    schedule_email = sync_endpoint(_endpoints.schedule_email)
    schedule_sms_bulk = sync_endpoint(_endpoints.schedule_sms_bulk)
    schedule_email_bulk = sync_endpoint(_endpoints.schedule_email_bulk)
    get_job = sync_endpoint(_endpoints.get_job)
    get_jobs = sync_endpoint(_endpoints.get_jobs)
    cancel_job = sync_endpoint(_endpoints.cancel_job)
    cancel_jobs = sync_endpoint(_endpoints.cancel_jobs)
    cancel_campaign = sync_endpoint(_endpoints.cancel_campaign)
    list_jobs = sync_endpoint(_endpoints.list_jobs)
    get_metrics = sync_endpoint(_endpoints.get_metrics)
    get_workspace_rate_limits = sync_endpoint(_endpoints.get_workspace_rate_limits)
    check_workspace_rate_limits = sync_endpoint(_endpoints.check_workspace_rate_limits)
    get_workspace_limits = sync_endpoint(_endpoints.get_workspace_limits)
    set_workspace_limits = sync_endpoint(_endpoints.set_workspace_limits)
    reset_metrics = sync_endpoint(_endpoints.reset_metrics)


class AsyncQueueService(BaseClient[httpx.AsyncClient]):
    """The async client: the same constructor and methods as `QueueService`, to ``await``.

    Args:
        base_url, api_key, timeout, max_retries, default_headers: as for `QueueService`.
        http_client: an `httpx.AsyncClient` of your own (proxies, transports); you close it.

    Example:
        >>> async with AsyncQueueService() as queue:  # doctest: +SKIP
        ...     result = await queue.schedule_sms("+14155550123", "Hi", workspace_id="ws-1")
    """

    # ---- I/O: the only code that differs from QueueService ------------------------------------

    def _open_http_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.timeout)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        with translate_transport_errors(request):
            return await self._client.send(request)

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def close(self) -> None:
        """Close the connections (unless the `http_client` was yours)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- the API: one line per endpoint (see `_endpoints`) -----------------------------------

    schedule_sms = async_endpoint(_endpoints.schedule_sms)
    schedule_email = async_endpoint(_endpoints.schedule_email)
    schedule_sms_bulk = async_endpoint(_endpoints.schedule_sms_bulk)
    schedule_email_bulk = async_endpoint(_endpoints.schedule_email_bulk)
    get_job = async_endpoint(_endpoints.get_job)
    get_jobs = async_endpoint(_endpoints.get_jobs)
    cancel_job = async_endpoint(_endpoints.cancel_job)
    cancel_jobs = async_endpoint(_endpoints.cancel_jobs)
    cancel_campaign = async_endpoint(_endpoints.cancel_campaign)
    list_jobs = async_endpoint(_endpoints.list_jobs)
    get_metrics = async_endpoint(_endpoints.get_metrics)
    get_workspace_rate_limits = async_endpoint(_endpoints.get_workspace_rate_limits)
    check_workspace_rate_limits = async_endpoint(_endpoints.check_workspace_rate_limits)
    get_workspace_limits = async_endpoint(_endpoints.get_workspace_limits)
    set_workspace_limits = async_endpoint(_endpoints.set_workspace_limits)
    reset_metrics = async_endpoint(_endpoints.reset_metrics)


#: Type app code against `QueueService`; this name is kept as an alias. (The test fakes subclass
#: the clients, so they pass for it with mypy and with `isinstance`.)
QueueServiceProtocol: TypeAlias = QueueService

#: Type app code against `AsyncQueueService`; this name is kept as an alias.
AsyncQueueServiceProtocol: TypeAlias = AsyncQueueService

#: The API methods of both clients, each the builder of that name in `_endpoints`.
ENDPOINTS = (
    "schedule_sms",
    "schedule_email",
    "schedule_sms_bulk",
    "schedule_email_bulk",
    "get_job",
    "get_jobs",
    "cancel_job",
    "cancel_jobs",
    "cancel_campaign",
    "list_jobs",
    "get_metrics",
    "get_workspace_rate_limits",
    "check_workspace_rate_limits",
    "get_workspace_limits",
    "set_workspace_limits",
    "reset_metrics",
)

#: The public methods both clients have, each with the same signature and docstring.
PUBLIC_METHODS = (*ENDPOINTS, "with_options", "close")
