"""The ``queue-services`` command: ``serve`` and ``dev``.

``serve`` runs the API against the Redis of ``REDIS_URL``; ``dev`` runs it against an embedded
redis-server it starts itself, with the data kept in a local folder.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
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
    }
    overrides: dict[str, Any] = {
        field: value
        for option, field in fields.items()
        if (value := getattr(args, option, None)) is not None
    }
    return Settings(**overrides)


def _run_api(settings: Settings) -> None:
    import uvicorn

    from queue_services_server.api.app import create_app

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


def redis_is_safe(settings: Settings, command: str) -> bool:
    """Check the Redis of ``REDIS_URL`` before starting (see `store/redis_check.py`): False, with
    the reason on stderr, if it would evict jobs; warnings are logged. A Redis that cannot be
    reached yet is not a reason to refuse: the API answers 503 and workers wait until it is up."""
    import logging

    import redis.exceptions

    from queue_services_server.store.redis_check import UnsafeRedisError, check_redis

    logger = logging.getLogger("queue_services_server")
    try:
        found = check_redis(settings.redis_url or "", allow_eviction=settings.redis_allow_eviction)
    except UnsafeRedisError as exc:
        print(f"queue-services {command}: {exc}", file=sys.stderr)
        return False
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        logger.warning("Redis could not be checked at start (%s); carrying on", exc)
        return True
    for warning in found.warnings:
        logger.warning(warning)
    return True


def serve(settings: Settings) -> int:
    """Run the API against ``REDIS_URL`` until interrupted."""
    if not settings.redis_url:
        print(
            "queue-services serve: REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379/0);"
            " for a local run with its own Redis use `queue-services dev`",
            file=sys.stderr,
        )
        return 2
    if not redis_is_safe(settings, "serve"):
        return 2
    _run_api(settings)
    return 0


def worker_command(settings: Settings) -> list[str]:
    """The Dramatiq command line that runs the delivery workers for `settings`."""
    from queue_services_server.delivery.config import QUEUES

    return [
        sys.executable,
        "-m",
        "dramatiq",
        "queue_services_server.delivery.worker:broker",
        "--processes",
        str(settings.worker_processes),
        "--threads",
        str(settings.worker_threads),
        "--queues",
        *QUEUES.values(),
        # Logging is set up by our broker module (format, masking), not by Dramatiq.
        "--skip-logging",
    ]


def worker_environment(settings: Settings) -> dict[str, str]:
    """The environment of the worker processes: ours, plus what Dramatiq reads at import."""
    return {
        **os.environ,
        # Dramatiq's consumers poll an idle queue with a backoff up to this many ms: short, so a
        # batch is picked up within tens of ms (the dispatch lookahead covers the rest).
        "dramatiq_worker_timeout": os.environ.get("dramatiq_worker_timeout", "100"),  # noqa: SIM112
        "QUEUE_SERVICES_LOG_LEVEL": settings.log_level,
        "QUEUE_SERVICES_LOG_FORMAT": settings.log_format,
    }


def worker(settings: Settings) -> int:
    """Run the delivery workers until stopped (SIGTERM finishes the batches in flight)."""
    from queue_services_server.delivery.providers.factory import (
        ProviderConfigError,
        check_provider_settings,
    )

    if not settings.redis_url:
        print(
            "queue-services worker: REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379/0)",
            file=sys.stderr,
        )
        return 2
    try:
        check_provider_settings(settings)
    except ProviderConfigError as exc:
        print(f"queue-services worker: {exc}", file=sys.stderr)
        return 2
    if not redis_is_safe(settings, "worker"):
        return 2
    env = worker_environment(settings)
    env["REDIS_URL"] = settings.redis_url
    command = worker_command(settings)
    # Replace this process, so that signals (SIGTERM from an orchestrator) reach Dramatiq.
    os.execve(command[0], command, env)
    return 0  # not reached


def keys(settings: Settings, args: argparse.Namespace) -> int:
    """``queue-services keys create|list|revoke``: manage the API keys stored in REDIS_URL."""
    import asyncio

    from pydantic import ValidationError

    from queue_services_server.api.schemas import KeyCreateRequest
    from queue_services_server.store.api_keys import ApiKeyStore
    from queue_services_server.store.connection import StoreUnavailableError, connect
    from queue_services_server.store.keys import KeySpace

    if not settings.redis_url:
        print(
            "queue-services keys: REDIS_URL is not set (for `queue-services dev`'s Redis, use the "
            "redis:// address it prints)",
            file=sys.stderr,
        )
        return 2

    async def run() -> int:
        client = connect(settings.redis_url or "")
        store = ApiKeyStore(client, KeySpace(settings.redis_prefix))
        try:
            if args.keys_command == "create":
                scope: dict[str, Any] = (
                    {"admin": True} if args.admin else {"workspaceId": args.workspace}
                )
                if args.name:
                    scope["name"] = args.name
                try:
                    request = KeyCreateRequest.model_validate(scope)
                except ValidationError as exc:
                    message = exc.errors()[0]["msg"]
                    print(f"queue-services keys: {message}", file=sys.stderr)
                    return 2
                secret, key = await store.create(
                    workspace_id=request.workspace_id, name=request.name
                )
                scope_text = "admin" if key.admin else f"workspace {key.workspace_id}"
                print(f"created key {key.id} ({scope_text}); it is shown this once:")
                print(secret)
            elif args.keys_command == "list":
                for key in await store.all():
                    scope_text = "admin" if key.admin else f"workspace {key.workspace_id}"
                    print(f"{key.id}  {scope_text:<30}  {key.name or ''}".rstrip())
            elif not await store.revoke(args.key_id):
                print(f"queue-services keys: no key {args.key_id!r}", file=sys.stderr)
                return 1
            else:
                print(f"revoked key {args.key_id}")
            return 0
        except StoreUnavailableError as exc:
            print(f"queue-services keys: {exc}", file=sys.stderr)
            return 1
        finally:
            await client.aclose()

    return asyncio.run(run())


def dev_admin_key(settings: Settings) -> str:
    """The development admin key: the one kept in the data folder while Redis still knows it,
    else a new one (written there, readable by its owner only)."""
    import asyncio

    from queue_services_server.store.api_keys import ApiKeyStore
    from queue_services_server.store.connection import connect
    from queue_services_server.store.keys import KeySpace

    path = settings.data_dir / "dev-admin-key"

    async def run() -> str:
        client = connect(settings.redis_url or "")
        store = ApiKeyStore(client, KeySpace(settings.redis_prefix))
        try:
            if path.exists():
                kept = path.read_text().strip()
                found = await store.authenticate(kept, bootstrap_key=None, limit=0, window_ms=1)
                if found.key is not None and found.key.admin:
                    return kept
            secret, _ = await store.create(workspace_id=None, name="queue-services dev")
        finally:
            await client.aclose()
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secret + "\n")
        return secret

    return asyncio.run(run())


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def dev(settings: Settings, *, no_worker: bool = False) -> int:
    """Run the API and a worker with an embedded Redis (unless ``REDIS_URL`` is set) and the
    outbox provider (unless SMS_PROVIDER / EMAIL_PROVIDER say otherwise), until Ctrl-C."""
    from queue_services_server.dev import EmbeddedRedis, EmbeddedRedisError, die_with_parent

    embedded: EmbeddedRedis | None = None
    # The development defaults: messages go to the outbox, nowhere outside, unless configured.
    defaults: dict[str, Any] = {}
    if "SMS_PROVIDER" not in os.environ:
        defaults["sms_provider"] = "outbox"
    if "EMAIL_PROVIDER" not in os.environ:
        defaults["email_provider"] = "outbox"
    if "CALLBACK_ALLOWED_HOSTS" not in os.environ:
        # Callbacks to this machine only, e.g. examples/callback_receiver.py.
        defaults["callback_allowed_hosts"] = "127.0.0.1,localhost"
    settings = settings.model_copy(update=defaults)
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
        if not redis_is_safe(settings, "dev"):
            return 2
    from queue_services_server.store.connection import StoreUnavailableError, redacted

    try:
        admin_key = dev_admin_key(settings)
    except StoreUnavailableError as exc:
        print(f"queue-services dev: {exc}", file=sys.stderr)
        if embedded is not None:
            embedded.stop()
        return 1
    address = f"http://{settings.host}:{settings.port}"
    redis_shown = redacted(settings.redis_url or "")
    print(
        f"queue-services dev: API on {address}  (Redis {redis_shown}, {where})\n"
        f"queue-services dev: admin API key (kept in {settings.data_dir / 'dev-admin-key'}):\n"
        f"    export QUEUE_SERVICES_API_KEY={admin_key}\n"
        f"queue-services dev: board at {address}/admin/queues (log in with that key), "
        f"API reference at {address}/openapi.json; Ctrl-C stops everything",
        flush=True,
    )
    worker_process = None
    if not no_worker:
        from queue_services_server.delivery.providers.factory import (
            ProviderConfigError,
            check_provider_settings,
        )

        try:
            check_provider_settings(settings)
        except ProviderConfigError as exc:
            print(f"queue-services dev: {exc}", file=sys.stderr)
            if embedded is not None:
                embedded.stop()
            return 2
        env = worker_environment(settings.model_copy(update={"worker_processes": 1}))
        env.update(
            REDIS_URL=settings.redis_url or "",
            SMS_PROVIDER=settings.sms_provider,
            EMAIL_PROVIDER=settings.email_provider,
        )
        command = worker_command(
            settings.model_copy(update={"worker_processes": 1, "worker_threads": 4})
        )
        # A session of its own, like Redis: Ctrl-C reaches this process, which then stops the
        # worker with one SIGTERM (it finishes its batches) rather than two signals at once.
        worker_process = subprocess.Popen(
            command, env=env, start_new_session=True, preexec_fn=die_with_parent
        )
    # uvicorn shuts down on SIGTERM and then re-raises it; handled like Ctrl-C, it reaches the
    # `finally` below instead of killing the process before Redis is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _run_api(settings)
    except KeyboardInterrupt:
        pass
    finally:
        if worker_process is not None:
            # SIGTERM: the worker finishes the batches it has taken, then exits.
            worker_process.terminate()
            try:
                worker_process.wait(60)
            except subprocess.TimeoutExpired:
                worker_process.kill()
                worker_process.wait()
        if embedded is not None:
            embedded.stop()
            print("queue-services dev: Redis stopped, data saved", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``queue-services`` console command."""
    args = _parser().parse_args(argv)
    try:
        from queue_services_server import logs

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
        if args.command == "dev":
            return dev(settings, no_worker=args.no_worker)
        if args.command == "keys":
            return keys(settings, args)
        command = {"serve": serve, "worker": worker}[args.command]
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
