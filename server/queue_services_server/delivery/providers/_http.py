"""HTTP helpers of the providers: their timeouts, and reading an answer with a size cap, so a
hostile endpoint cannot fill memory."""

from __future__ import annotations

import httpx


def provider_timeout(timeout_s: float) -> httpx.Timeout:
    """Connect, write and read timeouts of a provider call, and no limit on waiting for one of
    the client's pooled connections: that wait is ours, not the provider's, and must not use up
    an attempt (many sends at once to a slow provider queue for the 100 connections)."""
    return httpx.Timeout(timeout_s, pool=None)


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
