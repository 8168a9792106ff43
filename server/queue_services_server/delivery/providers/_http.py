"""HTTP helpers of the providers: their client (timeouts, connections), a body that goes at its
slot, and reading an answer with a size cap, so a hostile endpoint cannot fill memory."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from queue_services_server.delivery.providers.base import Release


def provider_timeout(timeout_s: float) -> httpx.Timeout:
    """Connect, write and read timeouts of a provider call, and no limit on waiting for one of
    the client's pooled connections: that wait is ours, not the provider's, and must not use up
    an attempt (many sends at once to a slow provider queue for the 100 connections)."""
    return httpx.Timeout(timeout_s, pool=None)


#: Connections a provider's client keeps at least, and at most.
MIN_CONNECTIONS = 100
MAX_CONNECTIONS = 500


def connections_for(rate_per_s: int) -> int:
    """Connections a provider's client may open for a channel sending `rate_per_s` (0: no
    limit): by Little's law, the sends at the provider are the rate times its latency, and a
    2.5 s provider at 100/s needs 250; this allows 3 s of the rate, within the bounds."""
    if rate_per_s <= 0:
        return MIN_CONNECTIONS
    return min(max(MIN_CONNECTIONS, rate_per_s * 3), MAX_CONNECTIONS)


#: Connections of one httpx client at most: a provider's connections are spread over several.
CONNECTIONS_PER_POOL = 25


class ProviderClient:
    """The HTTP client of a provider: its timeouts, no redirects followed, and room for
    `max_connections` at once (each kept open for the next send), spread over httpx clients of
    `CONNECTIONS_PER_POOL` each.

    Why several: httpcore's pool looks at each of its connections for each of them whenever a
    request starts or ends, work that grows with the square of the connections it holds;
    measured with 300 connections (a provider answering in 2.5 s at 100/s), half of a worker's
    CPU. Pools of 25 keep it small. A request goes to the pool with the fewest in progress.
    """

    def __init__(
        self,
        timeout_s: float,
        max_connections: int = MIN_CONNECTIONS,
        *,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.timeout = provider_timeout(timeout_s)
        if http_client is not None:
            self._clients = [http_client]
        else:
            pools = max(1, -(-max_connections // CONNECTIONS_PER_POOL))
            size = -(-max_connections // pools)
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            self._clients = [
                httpx.AsyncClient(timeout=self.timeout, limits=limits, follow_redirects=False)
                for _ in range(pools)
            ]
        self._owns_clients = http_client is None
        self._busy = [0] * len(self._clients)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        body: bytes,
        release: Release | None = None,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> AsyncIterator[httpx.Response]:
        """`httpx.AsyncClient.stream` of a request with `body`, on the least busy of the
        clients. With `release`, the connection is made and the headers written at once, and
        the body (its length declared, so the request is not chunked) goes when `release`
        returns (told when a new connection was made for it, see `Release`): the provider has
        the whole request at the slot, whatever the connection took."""
        headers = dict(headers or {})
        content: Any = body
        if release is not None:
            opened: list[float] = []

            async def trace(event: str, info: dict[str, Any]) -> None:
                # only a new connection is made (and, for https, its TLS started) for a request
                if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
                    opened[:] = [time.monotonic()]

            async def at_release() -> AsyncIterator[bytes]:
                await release(opened[0] if opened else None)
                yield body

            content = at_release()
            headers["Content-Length"] = str(len(body))
            options["extensions"] = {**options.get("extensions", {}), "trace": trace}
        index = min(range(len(self._clients)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            async with self._clients[index].stream(
                method, url, content=content, headers=headers, **options
            ) as answer:
                yield answer
        finally:
            self._busy[index] -= 1

    async def aclose(self) -> None:
        """Close the clients (not one handed in by the caller)."""
        if self._owns_clients:
            for client in self._clients:
                await client.aclose()


#: Most bytes of an answer read; the rest is ignored.
MAX_ANSWER_BYTES = 64 * 1024


async def read_capped(answer: httpx.Response, limit: int = MAX_ANSWER_BYTES) -> str:
    """The first `limit` bytes of a streamed answer, as text."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.aiter_bytes():
        chunks.append(chunk[: limit - size])
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks).decode("utf-8", errors="replace")
