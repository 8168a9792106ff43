"""Status callbacks: POSTing each status change of a job that has a callback URL.

Every worker process runs a `CallbackSender`, one consumer of the callback queue
(`store/callbacks.py`): each change is delivered by one of them, signed like the webhook
provider (`signing.py`), and retried with the product's backoff (`CALLBACK_RETRY_BASE_S`
doubling, capped at `CALLBACK_RETRY_MAX_S`, jittered) up to ``CALLBACK_MAX_ATTEMPTS`` times.
Delivery is at least once: receivers should treat a repeat as harmless (the body carries the job
id, the status and its time).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import httpx
import orjson

from queue_services._retries import backoff_s
from queue_services_server.clock import now_ms, now_s
from queue_services_server.delivery.providers._http import read_capped
from queue_services_server.delivery.signing import SIGNATURE_HEADER, signature
from queue_services_server.store.callbacks import CallbackQueue
from queue_services_server.store.connection import RedisClient, StoreUnavailableError
from queue_services_server.store.keys import KeySpace

logger = logging.getLogger("queue_services_server.callbacks")

#: Events read per call, and how long a read waits for new ones (ms).
READ_COUNT = 50
BLOCK_MS = 1000

#: Seconds per callback request.
TIMEOUT_S = 10.0

#: Seconds before the second attempt of a callback; doubled for each later one, with jitter.
CALLBACK_RETRY_BASE_S = 1.0

#: Seconds: the longest wait between two attempts of a callback.
CALLBACK_RETRY_MAX_S = 300.0


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
    """Delivers the callbacks of the queue, as one consumer of its group."""

    def __init__(
        self,
        redis: RedisClient,
        keys: KeySpace,
        secret: str | None,
        *,
        max_attempts: int,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._queue = CallbackQueue(redis, keys, consumer=f"{os.uname().nodename}-{os.getpid()}")
        self._secret = secret.encode() if secret else None
        self._max_attempts = max_attempts
        self._client = http_client or httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False)
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
                    await self._queue.create_group()
                    group_ready = True
                await self.step()
            except StoreUnavailableError as exc:
                logger.warning("callbacks: %s", exc)
                await asyncio.sleep(1)
            except Exception:
                # A bug must not stop every later callback: log it and go on.
                logger.exception("callbacks: unexpected error")
                await asyncio.sleep(1)

    async def step(self) -> int:
        """Deliver what is due (new events, due retries, abandoned ones); returns how many."""
        events = await self._queue.read(READ_COUNT, BLOCK_MS, now_ms())
        await asyncio.gather(*(self._deliver(entry_id, event) for entry_id, event in events))
        return len(events)

    async def _deliver(self, entry_id: bytes, event: dict[str, str]) -> None:
        attempt = int(event.get("try", "1"))
        ok, reason = await self._post(event)
        retry: dict[str, Any] | None = None
        if not ok and attempt < self._max_attempts:
            wait_s = backoff_s(attempt, base_s=CALLBACK_RETRY_BASE_S, max_s=CALLBACK_RETRY_MAX_S)
            retry = {**event, "try": str(attempt + 1), "due_ms": now_ms() + int(wait_s * 1000)}
        elif not ok:
            logger.warning(
                "callback for job %s (%s) given up after %d attempts: %s",
                event["jobId"], event["status"], attempt, reason,
            )  # fmt: skip
        await self._queue.done(entry_id, retry)

    async def _post(self, event: dict[str, str]) -> tuple[bool, str]:
        body = orjson.dumps(body_of(event))
        headers = {"Content-Type": "application/json", "X-Queue-Job-Id": event["jobId"]}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = signature(self._secret, body, now_s())
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
