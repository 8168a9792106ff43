"""Delivery metrics kept in Redis: counters per channel and workspace, a time series, and the
queue depths, shared by every worker process on every host and kept across restarts.

finish.lua writes them, once per batch, in the same call that records the batch; this module
reads them (in one pipelined round trip) and resets them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis

from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.records import CHANNELS
from queue_services_server.store.schedules import count_due

#: Upper bounds (s) of the batch-duration histogram buckets, as Prometheus expects them.
DURATION_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: Seconds per time-series bucket, and how long buckets are kept.
SERIES_BUCKET_S = 5
SERIES_KEPT_S = 6 * 3600

#: The window of the `throughput` figure, s.
THROUGHPUT_WINDOW_S = 60

#: Counters of each channel's metrics hash.
COUNTERS = (
    "total",
    "success",
    "failed",
    "retried",
    "rateLimited",
    "batches",
    "batchMs",
    "limiterWaits",
)


def duration_field(duration_s: float) -> str:
    """The histogram field a batch of `duration_s` seconds is counted in."""
    for bound in DURATION_BUCKETS_S:
        if duration_s <= bound:
            return f"le_{bound:g}"
    return "le_inf"


def series_bucket(now_ms: int) -> int:
    """The start (s) of the time-series bucket holding `now_ms`."""
    seconds = now_ms // 1000
    return seconds - seconds % SERIES_BUCKET_S


@dataclass
class ChannelMetrics:
    """One channel's figures, as read from Redis."""

    counters: dict[str, int]
    durations: dict[str, int]
    last_processed_ms: int | None
    workspaces: dict[str, dict[str, int]]
    rate_limits: dict[str, dict[str, int]]
    #: (bucket start s, sent, failed, rateLimited), oldest first.
    series: list[tuple[int, int, int, int]]
    depth: dict[str, int] = field(default_factory=dict)

    def throughput(self, now_ms: int) -> float:
        """Messages finished per second over the last `THROUGHPUT_WINDOW_S`."""
        since = now_ms // 1000 - THROUGHPUT_WINDOW_S
        done = sum(sent + failed for start, sent, failed, _ in self.series if start >= since)
        return round(done / THROUGHPUT_WINDOW_S, 2)


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _split(fields: dict[bytes, bytes]) -> dict[str, dict[str, int]]:
    by_workspace: dict[str, dict[str, int]] = {}
    for name, value in fields.items():
        workspace, _, counter = name.decode().rpartition("|")
        by_workspace.setdefault(workspace, {})[counter] = int(value)
    return by_workspace


class MetricsStore:
    """Reads and resets the delivery metrics (see `store/keys.py` for the layout)."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys

    async def read(
        self, now_ms: int, *, series_s: int = THROUGHPUT_WINDOW_S
    ) -> dict[str, ChannelMetrics]:
        """Every channel's figures, with `series_s` seconds of time series."""
        last = series_bucket(now_ms)
        buckets = list(range(last - series_s + SERIES_BUCKET_S, last + 1, SERIES_BUCKET_S))
        with translate_redis_errors():
            pipe = self._redis.pipeline(transaction=False)
            for channel in CHANNELS:
                pipe.hgetall(self._keys.metrics(channel))
                pipe.hgetall(self._keys.workspace_metrics(channel))
                pipe.hgetall(self._keys.rate_limit_counts(channel))
                for bucket in buckets:
                    pipe.hmget(self._keys.series(channel, bucket), "sent", "failed", "rateLimited")
                pipe.get(self._keys.scheduled_count(channel))
                pipe.zcard(self._keys.inflight(channel))
            replies = iter(await pipe.execute())
            due = await count_due(self._redis, self._keys, CHANNELS, now_ms)
            result: dict[str, ChannelMetrics] = {}
            for channel in CHANNELS:
                raw = {k.decode(): v for k, v in next(replies).items()}
                counters = {name: _int(raw.get(name)) for name in COUNTERS}
                durations = {k: int(v) for k, v in raw.items() if k.startswith("le_")}
                workspaces = _split(next(replies))
                rate_limits = _split(next(replies))
                series = [(bucket, *(_int(value) for value in next(replies))) for bucket in buckets]
                waiting, in_flight = int(next(replies) or 0), int(next(replies))
                result[channel] = ChannelMetrics(
                    counters=counters,
                    durations=durations,
                    last_processed_ms=_int(raw["lastProcessed"])
                    if "lastProcessed" in raw
                    else None,
                    workspaces=workspaces,
                    rate_limits=rate_limits,
                    series=series,  # type: ignore[arg-type]
                    depth={
                        "scheduled": max(waiting - due[channel], 0),
                        "due": due[channel],
                        "inFlight": in_flight,
                    },
                )
        return result

    async def rate_events(
        self, workspace_id: str, channel: str, limit: int
    ) -> list[dict[str, Any]]:
        """A workspace's most recent provider rate-limit hits on a channel, newest first."""
        with translate_redis_errors():
            items = await self._redis.lrange(
                self._keys.rate_events(workspace_id, channel), 0, limit - 1
            )
        return [orjson.loads(item) for item in items]

    async def rate_limit_counts(self, workspace_id: str) -> dict[str, tuple[int, int | None]]:
        """(count, last ms) of a workspace's provider rate-limit hits, per channel."""
        with translate_redis_errors():
            pipe = self._redis.pipeline(transaction=False)
            for channel in CHANNELS:
                pipe.hmget(
                    self._keys.rate_limit_counts(channel),
                    f"{workspace_id}|count",
                    f"{workspace_id}|last",
                )
            replies = await pipe.execute()
        return {
            channel: (_int(count), None if last is None else int(last))
            for channel, (count, last) in zip(CHANNELS, replies, strict=True)
        }

    async def reset(self, channel: str | None, workspace_id: str | None) -> None:
        """Reset one channel's or both channels' figures, for one workspace or all."""
        channels = CHANNELS if channel is None else (channel,)
        with translate_redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            for name in channels:
                if workspace_id is None:
                    pipe.delete(
                        self._keys.metrics(name),
                        self._keys.workspace_metrics(name),
                        self._keys.rate_limit_counts(name),
                    )
                    continue
                fields = [
                    f"{workspace_id}|{c}" for c in ("total", "success", "failed", "rateLimited")
                ]
                pipe.hdel(self._keys.workspace_metrics(name), *fields)
                pipe.hdel(
                    self._keys.rate_limit_counts(name),
                    f"{workspace_id}|count",
                    f"{workspace_id}|last",
                )
                pipe.delete(self._keys.rate_events(workspace_id, name))
            await pipe.execute()
        if workspace_id is None:
            # Events and series are many keys: found by pattern, which a reset (rare, by an
            # operator) may afford; page views never do this.
            for name in channels:
                for pattern in (
                    f"{self._keys.prefix}:rate-events:*:{name}",
                    f"{self._keys.prefix}:series:{name}:*",
                ):
                    with translate_redis_errors():
                        async for key in self._redis.scan_iter(match=pattern, count=500):
                            await self._redis.delete(key)
