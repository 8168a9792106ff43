"""API keys: created, listed, revoked and checked, stored hashed in Redis.

A key reads ``qsk_<id>_<secret>``: the 12-character `id` names the record
(``{p}:apikey:{id}``, a JSON string) and the listing (``{p}:apikeys``, id -> creation time);
the 43-character `secret` (32 random bytes) is kept only as its SHA-256. A fast hash is enough
here, unlike for passwords: the secret is random and long, so there is nothing to guess from the
hash, and checking a key costs microseconds on every request. The comparison is constant-time.

One Redis call (a script) both fetches the record and counts the request against the key's rate
limit, so authentication costs one round trip per request. Without a per-key limit
(``API_RATE_LIMIT=0``) there is nothing to count, and a key found valid is kept in the process
for `cache_ms` (``API_KEY_CACHE_MS``, one second by default): a request then costs no round trip
for its key, and a revoked key is refused by the process that revoked it at once, by the others
within `cache_ms` (the bootstrap key has no record: it needs no round trip at all then).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from queue_services_server.clock import now_ms
from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.lua import load_script

#: Every key starts with this, so a leaked one is easy to recognise (and to scan for).
KEY_PREFIX = "qsk_"
_ID_LENGTH = 12
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_KEY_PATTERN = re.compile(rf"^{KEY_PREFIX}([a-z2-7]{{{_ID_LENGTH}}})_([A-Za-z0-9_-]{{43}})$")

#: The id under which the bootstrap key (``QUEUE_SERVICES_ADMIN_KEY``) is rate limited.
BOOTSTRAP_KEY_ID = "bootstrap"

#: Most keys a process keeps verified at once (only valid keys are kept; past it, it starts over).
_MAX_CACHED_KEYS = 10_000


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret: who it is for and when it was made."""

    id: str
    #: The workspace the key is scoped to; None for an admin key.
    workspace_id: str | None
    created_at: int
    name: str | None = None

    @property
    def admin(self) -> bool:
        """Whether this is an admin key (every workspace, the admin API and the board)."""
        return self.workspace_id is None


_BOOTSTRAP = ApiKey(id=BOOTSTRAP_KEY_ID, workspace_id=None, created_at=0, name="bootstrap")


@dataclass(frozen=True)
class _Verified:
    """A key found valid: its secret's hash, what it is, and until when it is trusted."""

    secret_hash: str
    key: ApiKey
    until: float  # time.monotonic()


@dataclass(frozen=True)
class Authentication:
    """The result of checking one request's key."""

    #: The key, or None if the token is unknown, revoked or malformed.
    key: ApiKey | None
    #: Requests counted in the key's current window (0 when no limit applies).
    requests_in_window: int = 0
    #: Milliseconds until the window ends.
    window_left_ms: int = 0


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_key(token: str) -> tuple[str, str] | None:
    """The (id, secret) of a well-formed key, or None."""
    match = _KEY_PATTERN.match(token)
    if match is None:
        return None
    return match.group(1), match.group(2)


class ApiKeyStore:
    """The API keys of one deployment."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace, *, cache_ms: int = 0) -> None:
        """`cache_ms`: how long a key found valid is trusted without asking Redis again, when
        no per-key limit needs each request counted there (0: always ask)."""
        self._redis = redis
        self._keys = keys
        self._authenticate: AsyncScript = load_script(redis, "authenticate.lua")
        self._cache_s = cache_ms / 1000
        self._verified: dict[str, _Verified] = {}

    async def create(
        self, *, workspace_id: str | None, name: str | None = None
    ) -> tuple[str, ApiKey]:
        """Make a key: admin when `workspace_id` is None. Returns (the key itself, its record).

        The key itself is returned once and never stored; only its hash is.
        """
        key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))
        secret = secrets.token_urlsafe(32)
        created = now_ms()
        record = {"hash": _hash(secret), "workspaceId": workspace_id, "createdAt": created}
        if name:
            record["name"] = name
        with translate_redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._keys.api_key(key_id), orjson.dumps(record), nx=True)
                pipe.zadd(self._keys.api_keys(), {key_id: created})
                await pipe.execute()
        return (
            f"{KEY_PREFIX}{key_id}_{secret}",
            ApiKey(id=key_id, workspace_id=workspace_id, created_at=created, name=name),
        )

    async def all(self) -> list[ApiKey]:
        """Every key, oldest first (without secrets)."""
        with translate_redis_errors():
            members = await self._redis.zrange(self._keys.api_keys(), 0, -1)
            ids = [member.decode() for member in members if isinstance(member, bytes)]
            if not ids:
                return []
            raws = await self._redis.mget([self._keys.api_key(key_id) for key_id in ids])
        return [_from_record(key_id, raw) for key_id, raw in zip(ids, raws, strict=True) if raw]

    async def is_admin(self, key_id: str) -> bool:
        """Whether `key_id` names a stored admin key that has not been revoked."""
        with translate_redis_errors():
            raw = await self._redis.get(self._keys.api_key(key_id))
        return raw is not None and _from_record(key_id, raw).admin

    async def revoke(self, key_id: str) -> bool:
        """Delete a key; True if it existed. Requests with it are refused from then on."""
        with translate_redis_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._keys.api_key(key_id))
                pipe.zrem(self._keys.api_keys(), key_id)
                deleted, _ = await pipe.execute()
        self._verified.pop(key_id, None)
        return bool(deleted)

    async def authenticate(
        self, token: str, *, bootstrap_key: str | None, limit: int, window_ms: int
    ) -> Authentication:
        """Check a bearer token and count the request against its key's rate limit."""
        is_bootstrap = bootstrap_key is not None and hmac.compare_digest(
            token.encode(), bootstrap_key.encode()
        )
        if is_bootstrap:
            if limit == 0:  # no record to check, nothing to count
                return Authentication(_BOOTSTRAP)
            _, count, left = await self._check(
                BOOTSTRAP_KEY_ID, stored=False, limit=limit, window_ms=window_ms
            )
            return Authentication(_BOOTSTRAP, count, left)
        parsed = parse_key(token)
        if parsed is None:
            return Authentication(None)
        key_id, secret = parsed
        offered_hash = _hash(secret)
        cached = limit == 0 and self._cache_s > 0
        verified = self._verified.get(key_id) if cached else None
        # Constant-time comparisons: the time taken must not tell how much of a guess was right.
        if (
            verified is not None
            and verified.until > time.monotonic()
            and hmac.compare_digest(offered_hash, verified.secret_hash)
        ):
            return Authentication(verified.key)
        raw, count, left = await self._check(key_id, stored=True, limit=limit, window_ms=window_ms)
        if not raw:
            return Authentication(None)
        stored: dict[str, Any] = orjson.loads(raw)
        stored_hash = str(stored.get("hash", ""))
        if not hmac.compare_digest(offered_hash, stored_hash):
            return Authentication(None)
        key = _from_stored(key_id, stored)
        if cached:
            if len(self._verified) >= _MAX_CACHED_KEYS:
                self._verified.clear()
            self._verified[key_id] = _Verified(stored_hash, key, time.monotonic() + self._cache_s)
        return Authentication(key, count, left)

    async def _check(
        self, key_id: str, *, stored: bool, limit: int, window_ms: int
    ) -> tuple[bytes | None, int, int]:
        """authenticate.lua: the key's record (if `stored`), and its request counted."""
        with translate_redis_errors():
            raw, count, left = await self._authenticate(
                keys=[self._keys.api_key(key_id), self._keys.api_rate(key_id)],
                args=["1" if stored else "0", limit, window_ms],
            )
        return raw or None, int(count), int(left)


def _from_record(key_id: str, raw: bytes | str) -> ApiKey:
    return _from_stored(key_id, orjson.loads(raw))


def _from_stored(key_id: str, stored: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=key_id,
        workspace_id=stored.get("workspaceId"),
        created_at=int(stored.get("createdAt", 0)),
        name=stored.get("name"),
    )
