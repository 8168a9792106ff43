"""Status callbacks: POSTing each status change of a job that has a callback URL.

Scripts that change a status append the change to the ``{p}:callbacks`` stream. Every worker
process runs a `CallbackSender`, a consumer in the stream's ``senders`` group: each change is
delivered by one of them, signed like the webhook provider (``X-Queue-Signature: t=..,v1=..``,
HMAC-SHA256 of ``<t>.<body>``), and retried with backoff (1 s, 2 s, 4 s, ...) up to
``CALLBACK_MAX_ATTEMPTS`` times. A change taken by a worker that died is claimed by another after
`CLAIM_IDLE_MS`. Delivery is at least once: receivers should treat a repeat as harmless (the
body carries the job id, the status and its time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis
import redis.exceptions

from queue_services_server.delivery.providers._http import read_capped
from queue_services_server.delivery.providers.webhook import signature
from queue_services_server.store.connection import StoreUnavailableError, translate_redis_errors
from queue_services_server.store.keys import KeySpace

logger = logging.getLogger("queue_services_server.callbacks")

GROUP = "senders"

#: Events read per call, and how long a read waits for new ones (ms).
READ_COUNT = 50
BLOCK_MS = 1000

#: A taken event not acknowledged for this long (ms) belonged to a worker that died.
CLAIM_IDLE_MS = 60_000

#: Seconds per callback request.
TIMEOUT_S = 10.0


def body_of(event: dict[str, str]) -> dict[str, Any]:
    """The JSON a callback receiver gets for one status change."""
    body: dict[str, Any] = {
        "jobId": event["jobId"],
        "status": event["status"],
        "workspaceId": event.get("workspaceId"),
        "channel": event.get("channel"),
        "attempts": int(event.get("attempts", "0")),
        "at": int(event["at"]),
    }
    for optional in ("lastError", "providerMessageId"):
        if optional in event:
            body[optional] = event[optional]
    return body


class CallbackSender:
    """Delivers the callbacks of the stream, as one consumer of its group."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: KeySpace,
        secret: str | None,
        *,
        max_attempts: int,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._secret = secret.encode() if secret else None
        self._max_attempts = max_attempts
        self._client = http_client or httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False)
        self._consumer = f"{os.uname().nodename}-{os.getpid()}"
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """End the loop after its current step."""
        self._stopping.set()

    async def aclose(self) -> None:
        """Release the HTTP client."""
        await self._client.aclose()

    async def run(self) -> None:
        """Deliver until stopped."""
        group_ready = False
        while not self._stopping.is_set():
            try:
                if not group_ready:  # in the loop: Redis may be away when the worker starts
                    await self._create_group()
                    group_ready = True
                await self.step()
            except StoreUnavailableError as exc:
                logger.warning("callbacks: %s", exc)
                await asyncio.sleep(1)
            except Exception:
                # A bug must not stop every later callback: log it and go on.
                logger.exception("callbacks: unexpected error")
                await asyncio.sleep(1)

    async def _create_group(self) -> None:
        with translate_redis_errors(), contextlib.suppress(redis.exceptions.ResponseError):
            # ResponseError: the group exists already
            await self._redis.xgroup_create(self._keys.callbacks(), GROUP, id="0", mkstream=True)

    async def step(self) -> int:
        """Deliver what is due (new events, due retries, abandoned ones); returns how many."""
        stream = self._keys.callbacks()
        with translate_redis_errors():
            await self._requeue_due_retries()
            claimed = await self._redis.xautoclaim(
                stream, GROUP, self._consumer, min_idle_time=CLAIM_IDLE_MS, count=READ_COUNT
            )
            entries = list(claimed[1])
            if not entries:
                replies = await self._redis.xreadgroup(
                    GROUP, self._consumer, {stream: ">"}, count=READ_COUNT, block=BLOCK_MS
                )
                entries = [entry for _, batch in replies for entry in batch]  # type: ignore[str-unpack,union-attr]
        await asyncio.gather(*(self._deliver(entry_id, fields) for entry_id, fields in entries))
        return len(entries)

    async def _deliver(self, entry_id: bytes, raw: dict[bytes, bytes]) -> None:
        event = {key.decode(): value.decode() for key, value in raw.items()}
        attempt = int(event.get("try", "1"))
        ok, reason = await self._post(event)
        with translate_redis_errors():
            if not ok and attempt < self._max_attempts:
                event["try"] = str(attempt + 1)
                due_ms = time.time_ns() // 1_000_000 + 1000 * 2 ** (attempt - 1)
                await self._redis.zadd(self._keys.callback_retries(), {orjson.dumps(event): due_ms})
            elif not ok:
                logger.warning(
                    "callback for job %s (%s) given up after %d attempts: %s",
                    event["jobId"], event["status"], attempt, reason,
                )  # fmt: skip
            await self._redis.xack(self._keys.callbacks(), GROUP, entry_id)
            await self._redis.xdel(self._keys.callbacks(), entry_id)

    async def _post(self, event: dict[str, str]) -> tuple[bool, str]:
        body = orjson.dumps(body_of(event))
        headers = {"Content-Type": "application/json", "X-Queue-Job-Id": event["jobId"]}
        if self._secret is not None:
            headers["X-Queue-Signature"] = signature(self._secret, body, int(time.time()))
        try:
            async with self._client.stream(
                "POST", event["url"], content=body, headers=headers
            ) as answer:
                # The answer's body is not needed: read a little and drop the rest, so a hostile
                # endpoint cannot make the worker buffer a large answer.
                await read_capped(answer, limit=4096)
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}"
        return answer.is_success, f"HTTP {answer.status_code}"

    async def _requeue_due_retries(self) -> None:
        now_ms = time.time_ns() // 1_000_000
        due: list[bytes] = await self._redis.zrangebyscore(  # type: ignore[assignment]
            self._keys.callback_retries(), "-inf", now_ms, 0, 100
        )
        for member in due:
            # Whoever removes the member re-adds it: two senders never both retry one event.
            if await self._redis.zrem(self._keys.callback_retries(), member):
                await self._redis.xadd(self._keys.callbacks(), orjson.loads(member))
