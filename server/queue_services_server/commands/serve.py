"""``queue-services serve``: the API server against the Redis of ``REDIS_URL``, in one process or
several on one port (``--workers``, ``API_WORKERS``).

Several processes, because one Python process answers a scheduling request with about a core's
worth of work per 1,500-3,000 requests a second (HTTP parsing, validation, the Redis client):
uvicorn's own supervisor starts them, shares the listening socket between them, restarts one
that dies and stops them all on SIGTERM or Ctrl-C. Each process builds its app from the
environment, as the parent read it (`app_for_worker_process`).
"""

from __future__ import annotations

import os
from typing import Any

import uvicorn
from starlette.applications import Starlette

from queue_services_server import logs
from queue_services_server.api.app import create_app
from queue_services_server.commands import CommandError, check_redis_is_safe
from queue_services_server.settings import Settings

#: What uvicorn's worker processes import to build their app.
_APP_FACTORY = "queue_services_server.commands.serve:app_for_worker_process"

#: The settings the command line gave the parent (its --host, --port, --log-level), for the
#: worker processes, which read only the environment.
_PASSED_ON = {
    "host": "QUEUE_SERVICES_HOST",
    "port": "QUEUE_SERVICES_PORT",
    "log_level": "QUEUE_SERVICES_LOG_LEVEL",
}


def api_processes(settings: Settings) -> int:
    """How many processes serve the API: `settings.api_workers`, or one per CPU this process
    may run on (a container's CPU set, not the host's CPU count)."""
    if settings.api_workers is not None:
        return settings.api_workers
    return max(len(os.sched_getaffinity(0)), 1) if hasattr(os, "sched_getaffinity") else 1


def _uvicorn(settings: Settings, app: Starlette | str, **more: Any) -> None:
    """uvicorn serving `app` (an app, or the import string of a factory) as we configure it."""
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # uvicorn's loggers go through our root handler (format and masking).
        log_config=None,
        proxy_headers=False,
        server_header=False,
        **more,
    )


def run_api(settings: Settings) -> None:
    """Serve the API with uvicorn in this process until interrupted."""
    _uvicorn(settings, create_app(settings))


def app_for_worker_process() -> Starlette:
    """The app of one of the processes of ``serve --workers N``: its settings from the
    environment the parent passed on, its logging set up as the parent's."""
    settings = Settings()
    logs.configure(
        settings.log_level, settings.log_format, mask_personal_data=settings.log_mask_personal_data
    )
    return create_app(settings)


def run_api_processes(settings: Settings, processes: int) -> None:
    """Serve the API with `processes` uvicorn worker processes on one socket until interrupted."""
    for field, variable in _PASSED_ON.items():
        os.environ[variable] = str(getattr(settings, field))
    _uvicorn(settings, _APP_FACTORY, factory=True, workers=processes)


def serve(settings: Settings) -> int:
    """Run the API against ``REDIS_URL`` until interrupted."""
    if not settings.redis_url:
        raise CommandError(
            "REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379/0); for a local run with "
            "its own Redis use `queue-services dev`"
        )
    check_redis_is_safe(settings)
    processes = api_processes(settings)
    if processes == 1:
        run_api(settings)
    else:
        run_api_processes(settings, processes)
    return 0
