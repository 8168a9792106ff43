"""The public surface: exports, their module name, twin signatures, and import discipline."""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing

import pytest
from pydantic import BaseModel

import queue_services
from queue_services import (
    AsyncQueueService,
    AsyncQueueServiceProtocol,
    BulkCancelResult,
    BulkScheduleResult,
    CancelResult,
    Job,
    JobBatch,
    JobList,
    Metrics,
    QueueService,
    QueueServiceProtocol,
    RateLimitCheck,
    ResetResult,
    ScheduleResult,
    WorkspaceLimits,
    WorkspaceRateLimits,
    _endpoints,
)
from queue_services._client import ENDPOINTS, PUBLIC_METHODS

#: What each API method returns (awaited, for the async client).
RESULTS: dict[str, type[BaseModel]] = {
    "schedule_sms": ScheduleResult,
    "schedule_email": ScheduleResult,
    "schedule_sms_bulk": BulkScheduleResult,
    "schedule_email_bulk": BulkScheduleResult,
    "get_job": Job,
    "get_jobs": JobBatch,
    "cancel_job": CancelResult,
    "cancel_jobs": BulkCancelResult,
    "cancel_campaign": BulkCancelResult,
    "list_jobs": JobList,
    "get_metrics": Metrics,
    "get_workspace_rate_limits": WorkspaceRateLimits,
    "check_workspace_rate_limits": RateLimitCheck,
    "get_workspace_limits": WorkspaceLimits,
    "set_workspace_limits": WorkspaceLimits,
    "reset_metrics": ResetResult,
}


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name in dir(queue_services)
        if not name.startswith("_") and not inspect.ismodule(getattr(queue_services, name))
    }

    assert queue_services.__all__ == sorted(queue_services.__all__)
    assert public <= {*queue_services.__all__, "annotations"}


def test_exports_claim_the_public_module() -> None:
    for name in queue_services.__all__:
        value = getattr(queue_services, name)
        if inspect.isclass(value):
            assert value.__module__ == "queue_services", name


def test_both_clients_have_the_same_methods_and_signatures() -> None:
    def public(cls: type) -> set[str]:
        return {name for name, _ in inspect.getmembers(cls) if not name.startswith("_")}

    assert public(QueueService) == public(AsyncQueueService)
    assert set(PUBLIC_METHODS) <= public(QueueService)
    for name in public(QueueService):
        sync_member = getattr(QueueService, name)
        async_member = getattr(AsyncQueueService, name)
        if callable(sync_member):
            assert inspect.signature(sync_member) == inspect.signature(async_member), name
            assert inspect.getdoc(sync_member) == inspect.getdoc(async_member), name
    assert (
        inspect.signature(QueueService.__init__).parameters.keys()
        == inspect.signature(AsyncQueueService.__init__).parameters.keys()
    )


def test_every_public_method_is_documented() -> None:
    for name in PUBLIC_METHODS:
        assert inspect.getdoc(getattr(QueueService, name)), name
    for name in ENDPOINTS:
        doc = inspect.getdoc(getattr(QueueService, name)) or ""
        assert "Returns:" in doc, name
        assert "seed" not in doc, name  # say what the endpoint is, not where it came from


@pytest.mark.parametrize("client", [QueueService, AsyncQueueService])
def test_each_api_method_is_its_builder_as_a_method(client: type) -> None:
    assert sorted(ENDPOINTS) == sorted(RESULTS)
    for name in ENDPOINTS:
        builder = getattr(_endpoints, name)
        method = getattr(client, name)
        built = inspect.signature(builder)
        this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)

        assert inspect.signature(method) == built.replace(
            parameters=[this, *built.parameters.values()], return_annotation=RESULTS[name]
        ), name
        assert typing.get_type_hints(method)["return"] is RESULTS[name], name
        assert method.__doc__ == builder.__doc__, name
        assert (method.__name__, method.__qualname__) == (name, f"{client.__name__}.{name}")
        assert inspect.iscoroutinefunction(method) is (client is AsyncQueueService), name


def test_the_protocol_names_are_the_clients() -> None:
    assert QueueServiceProtocol is QueueService
    assert AsyncQueueServiceProtocol is AsyncQueueService


def test_importing_the_sdk_loads_nothing_from_the_server_side() -> None:
    code = (
        "import sys, queue_services\n"
        "heavy = {'starlette', 'redis', 'dramatiq', 'uvicorn', 'queue_services_server', 'orjson'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()

    assert loaded == "[]"
