"""The ``queue-services`` command: ``serve`` and ``dev``.

``serve`` runs the API against the Redis of ``REDIS_URL``; ``dev`` runs it against an embedded
redis-server it starts itself, with the data kept in a local folder.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queue_services_server.settings import Settings

_MISSING_EXTRAS = (
    "queue-services: the server is not installed ({error}).\n"
    "Install it with:  pip install 'queue-services[server]'"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="queue-services",
        description="Schedule and send SMS and email: the API server and its tools.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_server_options(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--host", help="interface to bind (default: QUEUE_SERVICES_HOST or 127.0.0.1)"
        )
        command.add_argument("--port", type=int, help="port (default: QUEUE_SERVICES_PORT or 8000)")
        command.add_argument("--log-level", help="debug, info, warning or error (default: info)")

    serve = commands.add_parser("serve", help="run the API server against REDIS_URL (production)")
    add_server_options(serve)
    dev = commands.add_parser(
        "dev", help="run the API with an embedded Redis whose data stays in a local folder"
    )
    add_server_options(dev)
    dev.add_argument(
        "--data-dir",
        type=Path,
        help="folder for the embedded Redis data "
        "(default: QUEUE_SERVICES_DATA_DIR or ./.queue-services)",
    )
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    from queue_services_server.settings import Settings

    overrides: dict[str, Any] = {
        name: value
        for name in ("host", "port", "log_level", "data_dir")
        if (value := getattr(args, name, None)) is not None
    }
    return Settings(**overrides)


def _run_api(settings: Settings) -> None:
    import uvicorn

    from queue_services_server.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
        server_header=False,
    )
    uvicorn.Server(config).run()


def serve(settings: Settings) -> int:
    """Run the API against ``REDIS_URL`` until interrupted."""
    if not settings.redis_url:
        print(
            "queue-services serve: REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379/0);"
            " for a local run with its own Redis use `queue-services dev`",
            file=sys.stderr,
        )
        return 2
    _run_api(settings)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def dev(settings: Settings) -> int:
    """Run the API with an embedded Redis (unless ``REDIS_URL`` is set) until Ctrl-C."""
    from queue_services_server.dev import EmbeddedRedis, EmbeddedRedisError

    embedded: EmbeddedRedis | None = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.data_dir)
        try:
            url = embedded.start()
        except EmbeddedRedisError as exc:
            print(f"queue-services dev: {exc}", file=sys.stderr)
            return 1
        settings = settings.model_copy(update={"redis_url": url})
        where = f"embedded, data in {embedded.data_dir}"
    else:
        where = "from REDIS_URL"
    print(
        f"queue-services dev: API on http://{settings.host}:{settings.port}"
        f"  (Redis {settings.redis_url}, {where})\n"
        f"queue-services dev: API reference at http://{settings.host}:{settings.port}/openapi.json;"
        " Ctrl-C stops everything",
        flush=True,
    )
    # uvicorn shuts down on SIGTERM and then re-raises it; handled like Ctrl-C, it reaches the
    # `finally` below instead of killing the process before Redis is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _run_api(settings)
    except KeyboardInterrupt:
        pass
    finally:
        if embedded is not None:
            embedded.stop()
            print("queue-services dev: Redis stopped, data saved", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``queue-services`` console command."""
    args = _parser().parse_args(argv)
    try:
        try:
            settings = _settings(args)
        except ValueError as exc:  # pydantic's ValidationError names the variable and the problem
            print(f"queue-services: invalid setting: {exc}", file=sys.stderr)
            return 2
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        command = {"serve": serve, "dev": dev}[args.command]
        return command(settings)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in {
            "starlette",
            "uvicorn",
            "redis",
            "pydantic_settings",
            "orjson",
            "email_validator",
        }:
            print(_MISSING_EXTRAS.format(error=exc), file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
