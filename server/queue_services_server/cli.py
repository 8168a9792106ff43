"""The ``queue-services`` command line: parsing it, reading the settings, and calling the
command's module in `commands/` (``serve``, ``worker``, ``dev``, ``keys``).

Nothing of the server is imported before the arguments are parsed, so ``--help`` works without
the ``[server]`` extra and a missing one is reported with the command to install it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queue_services_server.settings import Settings

#: Packages of the ``[server]`` extra whose absence means the extra is not installed.
SERVER_PACKAGES = frozenset(
    {"starlette", "uvicorn", "redis", "pydantic_settings", "orjson", "email_validator", "dramatiq"}
)

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
    serve.add_argument(
        "--workers",
        type=int,
        help="processes answering requests (default: API_WORKERS, or one per CPU)",
    )
    dev = commands.add_parser(
        "dev", help="run the API with an embedded Redis whose data stays in a local folder"
    )
    add_server_options(dev)
    dev.add_argument(
        "--no-worker", action="store_true", help="run the API only, without a delivery worker"
    )
    dev.add_argument(
        "--data-dir",
        type=Path,
        help="folder for the embedded Redis data "
        "(default: QUEUE_SERVICES_DATA_DIR or ./.queue-services)",
    )
    worker = commands.add_parser("worker", help="run delivery workers (Dramatiq) against REDIS_URL")
    worker.add_argument(
        "--processes", type=int, help="worker processes (default: WORKER_PROCESSES or 2)"
    )
    worker.add_argument(
        "--threads", type=int, help="threads per process (default: WORKER_THREADS or 8)"
    )
    worker.add_argument("--log-level", help="debug, info, warning or error (default: info)")
    keys = commands.add_parser("keys", help="create, list and revoke API keys (in REDIS_URL)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser("create", help="make a key and print it (shown once)")
    scope = create.add_mutually_exclusive_group(required=True)
    scope.add_argument("--workspace", metavar="ID", help="a key for this workspace only")
    scope.add_argument("--admin", action="store_true", help="an admin key (every workspace)")
    create.add_argument("--name", help="what the key is for, shown in listings")
    key_commands.add_parser("list", help="list keys (ids and scopes, never secrets)")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", metavar="ID")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    from queue_services_server.settings import Settings

    fields = {
        "host": "host",
        "port": "port",
        "log_level": "log_level",
        "data_dir": "data_dir",
        "processes": "worker_processes",
        "threads": "worker_threads",
        "workers": "api_workers",
    }
    overrides: dict[str, Any] = {
        field: value
        for option, field in fields.items()
        if (value := getattr(args, option, None)) is not None
    }
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``queue-services`` console command."""
    args = _parser().parse_args(argv)
    try:
        from queue_services_server import logs
        from queue_services_server.commands import CommandError

        try:
            settings = _settings(args)
        except ValueError as exc:  # pydantic's ValidationError names the variable and the problem
            print(f"queue-services: invalid setting: {exc}", file=sys.stderr)
            return 2
        logs.configure(
            settings.log_level,
            settings.log_format,
            mask_personal_data=settings.log_mask_personal_data,
        )
        try:
            return _run(args, settings)
        except CommandError as exc:
            print(f"queue-services {args.command}: {exc.message}", file=sys.stderr)
            return exc.exit_code
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in SERVER_PACKAGES:
            print(_MISSING_EXTRAS.format(error=exc), file=sys.stderr)
            return 2
        raise


def _run(args: argparse.Namespace, settings: Settings) -> int:
    # Each command's module is imported only when it runs: `keys` needs no uvicorn, and a
    # missing extra is reported by `main` for the command that needs it.
    if args.command == "serve":
        from queue_services_server.commands.serve import serve

        return serve(settings)
    if args.command == "worker":
        from queue_services_server.commands.worker import worker

        return worker(settings)
    if args.command == "dev":
        from queue_services_server.commands.dev import dev

        return dev(settings, no_worker=args.no_worker)
    from queue_services_server.commands.keys import keys

    return keys(settings, args)


if __name__ == "__main__":
    sys.exit(main())
