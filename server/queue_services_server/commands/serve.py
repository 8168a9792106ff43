"""``queue-services serve``: the API server against the Redis of ``REDIS_URL``."""

from __future__ import annotations

import uvicorn

from queue_services_server.api.app import create_app
from queue_services_server.commands import CommandError, check_redis_is_safe
from queue_services_server.settings import Settings


def run_api(settings: Settings) -> None:
    """Serve the API with uvicorn until interrupted."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # uvicorn's loggers go through our root handler (format and masking).
        log_config=None,
        proxy_headers=False,
        server_header=False,
    )
    uvicorn.Server(config).run()


def serve(settings: Settings) -> int:
    """Run the API against ``REDIS_URL`` until interrupted."""
    if not settings.redis_url:
        raise CommandError(
            "REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379/0); for a local run with "
            "its own Redis use `queue-services dev`"
        )
    check_redis_is_safe(settings)
    run_api(settings)
    return 0
