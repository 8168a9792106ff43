"""Retention: finished jobs are deleted `JOB_RETENTION_S` after they finished.

Every worker process runs a `RetentionSweeper`; about once a minute one of them (whichever takes
the ``{p}:retention-sweep`` token first) deletes, per channel, the COMPLETED, FAILED and
CANCELLED jobs that entered their status before the cutoff: the record, its status-index entry
and its workspace-index entry, in bounded chunks (`clean.lua`, the board's "clean" action). So
neither the records nor the indexes that point at them grow without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from queue_services_server import clock
from queue_services_server.store.connection import RedisClient, StoreUnavailableError
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.operations import OperatorStore
from queue_services_server.store.records import CHANNELS, FINAL_STATUSES

logger = logging.getLogger("queue_services_server")

#: Seconds between sweeps (across all workers: the token makes it one sweep per interval).
SWEEP_INTERVAL_S = 60.0


class RetentionSweeper:
    """Deletes finished jobs older than the retention, about once a minute, in one worker."""

    def __init__(
        self,
        redis: RedisClient,
        keys: KeySpace,
        retention_s: float,
        *,
        interval_s: float = SWEEP_INTERVAL_S,
    ) -> None:
        self._operator = OperatorStore(redis, keys)
        self._retention_ms = int(retention_s * 1000)
        self._interval_s = interval_s
        self._stopping = asyncio.Event()

    async def sweep(self, now_ms: int | None = None) -> int:
        """One sweep over every channel and final status; returns how many jobs were deleted."""
        now = clock.now_ms() if now_ms is None else now_ms
        deleted = 0
        for channel in CHANNELS:
            for status in FINAL_STATUSES:
                deleted += await self._operator.clean(channel, status, self._retention_ms, now)
        return deleted

    async def run(self) -> None:
        """Sweep when this worker wins the interval's token, until `stop()`."""
        token_ms = max(int(self._interval_s * 1000) - 100, 1)
        while not self._stopping.is_set():
            try:
                if await self._operator.take_sweep_turn(token_ms):
                    deleted = await self.sweep()
                    if deleted:
                        logger.info("retention: deleted %d finished jobs", deleted)
            except StoreUnavailableError as exc:
                logger.warning("retention sweep skipped: %s", exc)
            except Exception:
                # A bug must not end every later sweep: log it and try at the next interval.
                logger.exception("retention sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval_s)

    def stop(self) -> None:
        """Stop after the current sweep."""
        self._stopping.set()
