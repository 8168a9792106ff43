"""API keys (admin only): ``POST /api/keys``, ``GET /api/keys``, ``DELETE /api/keys/{keyId}``."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from queue_services_server.api.auth import require_admin
from queue_services_server.api.errors import NotFoundError, ValidationFailedError
from queue_services_server.api.request_body import read_json_object
from queue_services_server.api.routes._context import json_response, settings_of
from queue_services_server.api.schemas import (
    KeyAnswer,
    KeyCreatedAnswer,
    KeyCreateRequest,
    KeyListAnswer,
    KeyRevokedAnswer,
    from_ms,
)
from queue_services_server.store.api_keys import ApiKey, ApiKeyStore

logger = logging.getLogger("queue_services_server")


def _store(request: Request) -> ApiKeyStore:
    store: ApiKeyStore = request.state.api_keys
    return store


def key_answer(key: ApiKey) -> KeyAnswer:
    """A key as the API lists it."""
    return KeyAnswer(
        id=key.id,
        admin=key.admin,
        workspaceId=key.workspace_id,
        name=key.name,
        createdAt=from_ms(key.created_at),
    )


async def create_key(request: Request) -> Response:
    """Make a key; the answer carries the key itself, which is not kept and not shown again."""
    actor = require_admin(request)
    data = await read_json_object(request, max_bytes=settings_of(request).max_body_bytes)
    try:
        body = KeyCreateRequest.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError.from_pydantic(exc) from exc
    secret, key = await _store(request).create(workspace_id=body.workspace_id, name=body.name)
    # The id only: key material is never logged.
    logger.info(
        "api key %s created by key %s (%s)",
        key.id,
        actor.id,
        "admin" if key.admin else f"workspace {key.workspace_id}",
    )
    answer = KeyCreatedAnswer(**key_answer(key).model_dump(), key=secret)
    return json_response(answer, 201)


async def list_keys(request: Request) -> Response:
    """Every stored key, oldest first, without secrets."""
    require_admin(request)
    keys = await _store(request).all()
    return json_response(KeyListAnswer(keys=[key_answer(key) for key in keys]))


async def revoke_key(request: Request) -> Response:
    """Revoke a key: every request with it is refused (401) from now on."""
    actor = require_admin(request)
    key_id: str = request.path_params["key_id"]
    if len(key_id) > 64 or not await _store(request).revoke(key_id):
        raise NotFoundError(f"no API key {key_id[:64]!r}")
    logger.info("api key %s revoked by key %s", key_id, actor.id)
    return json_response(KeyRevokedAnswer(id=key_id))


async def keys_resource(request: Request) -> Response:
    """``GET`` (list) or ``POST`` (create) keys."""
    if request.method == "POST":
        return await create_key(request)
    return await list_keys(request)


def routes() -> list[Route]:
    """The key routes."""
    return [
        # One route for both methods, so a 405 on this path lists them both in Allow.
        Route("/api/keys", keys_resource, methods=["GET", "POST"]),
        Route("/api/keys/{key_id:str}", revoke_key, methods=["DELETE"]),
    ]
