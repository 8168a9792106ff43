"""What tests, their helpers and the benchmarks share that is not a fixture: the admin key of the
servers they start, the product's environment variables, an app served by uvicorn in a thread,
and waiting for a condition with a deadline. The fixtures live in the `conftest.py` beside this
module, which imports from here; no module imports the conftest."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import uvicorn

from queue_services_server.api.app import create_app
from queue_services_server.dev import free_port
from queue_services_server.settings import Settings

T = TypeVar("T")

#: The bootstrap admin key of the API servers tests start (the session's `api_url`, and the
#: `queue-services serve` processes of `tests/api_process.py`).
ADMIN_KEY = "test-admin-key"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _product_variables() -> set[str]:
    names = {field.upper() for field in Settings.model_fields}
    for field in Settings.model_fields.values():
        names.update(
            str(choice).upper() for choice in getattr(field.validation_alias, "choices", [])
        )
    return names


#: Environment variables the product reads (upper case); the `clean_environ` fixture clears them
#: around every test, and `tests/workers.py` keeps them out of a worker's inherited environment,
#: so that the developer's own shell cannot change what a test sees.
PRODUCT_VARIABLES = _product_variables()


# ---- waiting ------------------------------------------------------------------------------------


class WaitTimeout(AssertionError):
    """Raised by `wait_until` when its condition did not hold in time; an AssertionError, so a
    test that waits fails as an assertion would. Catch it (and nothing broader) where running
    out of time is an outcome to report rather than a failure."""


def _timeout(message: str | Callable[[], str], timeout_s: float) -> WaitTimeout:
    text = message() if callable(message) else message
    return WaitTimeout(f"{text} (waited {timeout_s:g} s)")


def wait_until(
    condition: Callable[[], T],
    *,
    timeout_s: float,
    interval_s: float = 0.05,
    message: str | Callable[[], str] = "the condition never held",
) -> T:
    """Call `condition` every `interval_s` until it returns a truthy value, and return that value;
    after `timeout_s` (the condition is always asked at least once, and once more at the
    deadline), raise `WaitTimeout` with `message` (a callable is asked for it then, so that it
    can tell what was seen last). An exception from `condition` goes through at once."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timeout(message, timeout_s)
        time.sleep(interval_s)


async def wait_until_async(
    condition: Callable[[], Awaitable[T] | T],
    *,
    timeout_s: float,
    interval_s: float = 0.05,
    message: str | Callable[[], str] = "the condition never held",
) -> T:
    """`wait_until` for asyncio code: sleeps with `asyncio.sleep`, and awaits what `condition`
    returns when it is awaitable (so `condition` may be an `async def`, or a plain lambda)."""
    deadline = time.monotonic() + timeout_s
    while True:
        asked = condition()
        value = cast(T, await asked if inspect.isawaitable(asked) else asked)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timeout(message, timeout_s)
        await asyncio.sleep(interval_s)


# ---- servers in a thread ------------------------------------------------------------------------


@contextmanager
def serving(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    start_timeout_s: float = 10,
    **config: Any,
) -> Iterator[str]:
    """Serve an ASGI `app` with uvicorn in a daemon thread on `host` and `port` (a free one by
    default) for the duration of a `with` block; yields its base URL. `config`: more
    `uvicorn.Config` arguments (``log_level`` is ``warning`` unless given)."""
    port = port or free_port()
    config.setdefault("log_level", "warning")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **config))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()

    def started() -> bool:
        if not server.started and not thread.is_alive():
            raise RuntimeError(f"uvicorn exited before it started on {host}:{port}")
        return server.started

    try:
        wait_until(
            started,
            timeout_s=start_timeout_s,
            interval_s=0.01,
            message=f"uvicorn did not start on {host}:{port}",
        )
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """Serve `create_app(settings)` (the product's API and board) with uvicorn on 127.0.0.1 in a
    thread; yields its base URL."""
    with serving(create_app(settings), lifespan="on") as url:
        yield url
