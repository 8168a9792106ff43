"""``queue-services keys create|list|revoke``: the API keys stored in ``REDIS_URL``; and the
development admin key that ``queue-services dev`` keeps in its data folder."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from pydantic import ValidationError

from queue_services_server.api.schemas import KeyCreateRequest
from queue_services_server.commands import CommandError
from queue_services_server.settings import Settings
from queue_services_server.store.api_keys import ApiKey, ApiKeyStore
from queue_services_server.store.connection import StoreUnavailableError, connect
from queue_services_server.store.keys import KeySpace


def _scope(key: ApiKey) -> str:
    return "admin" if key.admin else f"workspace {key.workspace_id}"


async def _create(store: ApiKeyStore, args: argparse.Namespace) -> None:
    scope: dict[str, Any] = {"admin": True} if args.admin else {"workspaceId": args.workspace}
    if args.name:
        scope["name"] = args.name
    try:
        request = KeyCreateRequest.model_validate(scope)
    except ValidationError as exc:
        raise CommandError(exc.errors()[0]["msg"]) from exc
    secret, key = await store.create(workspace_id=request.workspace_id, name=request.name)
    print(f"created key {key.id} ({_scope(key)}); it is shown this once:")
    print(secret)


async def _list(store: ApiKeyStore) -> None:
    for key in await store.all():
        print(f"{key.id}  {_scope(key):<30}  {key.name or ''}".rstrip())


async def _revoke(store: ApiKeyStore, key_id: str) -> None:
    if not await store.revoke(key_id):
        raise CommandError(f"no key {key_id!r}", exit_code=1)
    print(f"revoked key {key_id}")


def keys(settings: Settings, args: argparse.Namespace) -> int:
    """Create, list or revoke keys, as `args.keys_command` says."""
    if not settings.redis_url:
        raise CommandError(
            "REDIS_URL is not set (for `queue-services dev`'s Redis, use the redis:// address "
            "it prints)"
        )

    async def run() -> None:
        client = connect(settings.redis_url or "")
        store = ApiKeyStore(client, KeySpace(settings.redis_prefix))
        try:
            if args.keys_command == "create":
                await _create(store, args)
            elif args.keys_command == "list":
                await _list(store)
            else:
                await _revoke(store, args.key_id)
        except StoreUnavailableError as exc:
            raise CommandError(str(exc), exit_code=1) from exc
        finally:
            await client.aclose()

    asyncio.run(run())
    return 0


def dev_admin_key(settings: Settings) -> str:
    """The development admin key: the one kept in the data folder while Redis still knows it,
    else a new one (written there, readable by its owner only). Raises `StoreUnavailableError`
    if Redis cannot be reached."""
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
