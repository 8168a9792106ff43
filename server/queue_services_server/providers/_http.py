"""Reading a provider's HTTP answer with a size cap, so a hostile endpoint cannot fill memory."""

from __future__ import annotations

import httpx

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
