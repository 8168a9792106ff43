"""JobStore: create, read, cancel and list jobs in Redis.

Every state change is one Lua script (``store/scripts/``), so it is atomic against workers and
other API processes. Redis errors do not leave this module except as `StoreUnavailableError`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from queue_services_server.store.connection import translate_redis_errors
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.lua import load_script
from queue_services_server.store.records import JobRecord

#: Jobs per create_jobs.lua call. A bulk request is split into calls of this size, all sent in one
#: pipeline: one round trip for the lot, while no single script holds Redis for more than a few ms.
CREATE_CHUNK_SIZE = 500

#: A new job due within this many ms wakes a sleeping dispatcher; later ones are found by the
#: dispatcher's own periodic look at the schedule (at least once per this interval).
WAKE_HORIZON_MS = 1000

#: Jobs per cancel_jobs.lua call: a cancel of a whole campaign runs as calls of this size, one
#: after another, so other clients' commands go between them (each call a few ms).
CANCEL_CHUNK_SIZE = 50

#: Most index entries one listing page examines when a filter is given. A page may come back
#: short (with a cursor) rather than scan a large workspace whole.
LIST_SCAN_BUDGET = 1000


class CreateOutcome(enum.Enum):
    """What happened to one job handed to `JobStore.create`."""

    CREATED = "created"
    #: The job existed with the same digest: a retry of the same request.
    DUPLICATE = "duplicate"
    #: The job existed with another digest: an idempotency key reused for a different message.
    CONFLICT = "conflict"
    #: Not stored: its workspace already has `max_backlog` unfinished jobs.
    BACKLOG_FULL = "backlog_full"


class CancelOutcome(enum.Enum):
    """What `JobStore.cancel` did."""

    NOT_FOUND = 0
    CANCELLED = 1
    ALREADY_CANCELLED = 2
    NOT_CANCELLABLE = 3


#: The order of `CancelCounts`' fields.
_COUNTED_OUTCOMES = (
    CancelOutcome.CANCELLED,
    CancelOutcome.ALREADY_CANCELLED,
    CancelOutcome.NOT_CANCELLABLE,
    CancelOutcome.NOT_FOUND,
)


@dataclass(frozen=True)
class CancelCounts:
    """What a cancel of many jobs did: how many jobs had each outcome."""

    cancelled: int = 0
    already_cancelled: int = 0
    not_cancellable: int = 0
    not_found: int = 0

    def __add__(self, other: CancelCounts) -> CancelCounts:
        return CancelCounts(
            self.cancelled + other.cancelled,
            self.already_cancelled + other.already_cancelled,
            self.not_cancellable + other.not_cancellable,
            self.not_found + other.not_found,
        )

    @classmethod
    def of(cls, outcomes: Sequence[CancelOutcome]) -> CancelCounts:
        """The counts of a list of outcomes."""
        return cls(*(sum(1 for o in outcomes if o is kind) for kind in _COUNTED_OUTCOMES))


@dataclass(frozen=True)
class Created:
    """The result for one job of `JobStore.create`: the outcome and the record as stored."""

    outcome: CreateOutcome
    record: JobRecord


@dataclass(frozen=True)
class Cursor:
    """A position in a listing: the last job returned and its index score."""

    score: int
    job_id: str

    def encode(self) -> str:
        """The opaque string handed to clients as ``nextCursor``."""
        return f"{self.score}:{self.job_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse a ``nextCursor`` string; raises ValueError if it is not one."""
        score, sep, job_id = text.partition(":")
        if not sep or not job_id or not score.isdigit() or len(job_id) > 64:
            raise ValueError("not a cursor returned by this API")
        return cls(int(score), job_id)


class JobStore:
    """The job records and their indexes in one Redis (see `store/keys.py` for the layout)."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys
        self._create_jobs = load_script(redis, "create_jobs.lua")
        self._cancel_jobs = load_script(redis, "cancel_jobs.lua")
        self._page_ids = load_script(redis, "page_ids.lua")

    async def ping(self) -> None:
        """Check that Redis answers; raises `StoreUnavailableError` if not."""
        with translate_redis_errors():
            await self._redis.ping()

    async def create(self, records: Sequence[JobRecord], *, max_backlog: int = 0) -> list[Created]:
        """Store new jobs and schedule them; one result per record, in order.

        A record whose id already exists is not written again: the stored one is returned as a
        `DUPLICATE` (same digest) or `CONFLICT` (different digest). A new record whose workspace
        already has `max_backlog` jobs SCHEDULED or PROCESSING is refused (`BACKLOG_FULL`);
        0 means no bound. The check and the write are one atomic step per chunk.
        """
        if not records:
            return []
        with translate_redis_errors():
            try:
                replies = await self._create_pipeline(records, max_backlog)
            except NoScriptError:
                # Redis lost its script cache (a restart, SCRIPT FLUSH): load it, once, again.
                await self._redis.script_load(self._create_jobs.script)
                replies = await self._create_pipeline(records, max_backlog)
        results: list[Created] = []
        answers = [answer for reply in replies for answer in reply]
        for record, answer in zip(records, answers, strict=True):
            if answer == 1:
                results.append(Created(CreateOutcome.CREATED, record))
                continue
            if answer == 0:
                results.append(Created(CreateOutcome.BACKLOG_FULL, record))
                continue
            existing = JobRecord.decode(record.id, answer)
            same = existing.digest == record.digest
            outcome = CreateOutcome.DUPLICATE if same else CreateOutcome.CONFLICT
            results.append(Created(outcome, existing))
        return results

    async def _create_pipeline(self, records: Sequence[JobRecord], max_backlog: int) -> list[Any]:
        """create_jobs.lua per chunk, in one round trip; the scripts' replies. The script also
        wakes the dispatchers, so that a single request is a single command.

        EVALSHA is sent directly rather than through the registered script object: a pipeline
        that holds script objects first asks Redis SCRIPT EXISTS, one more round trip on every
        request (measured: about a seventh of the API's CPU per scheduling request); and one
        chunk goes without a pipeline, whose own work per request is more than the command's.
        """
        calls = []
        for start in range(0, len(records), CREATE_CHUNK_SIZE):
            chunk = records[start : start + CREATE_CHUNK_SIZE]
            keys: list[str] = []
            args: list[Any] = []
            for record in chunk:
                job_key = self._keys.job(record.id)
                campaign = record.campaign_id
                # the campaign's list, or a stand-in the script does not touch
                campaign_key = job_key
                if campaign is not None:
                    campaign_key = self._keys.campaign(record.workspace_id, campaign)
                keys += [
                    job_key,
                    self._keys.workspace_schedule(
                        record.channel, record.workspace_id, record.priority
                    ),
                    self._keys.workspace_jobs(record.workspace_id),
                    self._keys.scheduled_count(record.channel),
                    campaign_key,
                    self._keys.wake(record.channel),
                ]
                args += [
                    record.id,
                    record.scheduled_for,
                    record.created_at,
                    record.encode(),
                    "0" if campaign is None else "1",
                ]
            args += [self._keys.prefix, max_backlog, WAKE_HORIZON_MS]
            calls.append((len(keys), *keys, *args))
        if len(calls) == 1:
            return [await self._redis.evalsha(self._create_jobs.sha, *calls[0])]
        pipe = self._redis.pipeline(transaction=False)
        for call in calls:
            pipe.evalsha(self._create_jobs.sha, *call)
        replies: list[Any] = await pipe.execute()
        return replies

    async def get(self, job_id: str) -> JobRecord | None:
        """The job's record, or None if there is no such job."""
        with translate_redis_errors():
            raw = await self._redis.get(self._keys.job(job_id))
        return None if raw is None else JobRecord.decode(job_id, raw)

    async def get_many(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        """The records of several jobs in one round trip, None where a job does not exist."""
        if not job_ids:
            return []
        with translate_redis_errors():
            raws = await self._redis.mget([self._keys.job(job_id) for job_id in job_ids])
        return [
            None if raw is None else JobRecord.decode(job_id, raw)
            for job_id, raw in zip(job_ids, raws, strict=True)
        ]

    async def cancel(self, job_id: str, now_ms: int) -> tuple[CancelOutcome, JobRecord | None]:
        """Cancel a job not yet on its way to the provider; returns what happened and the
        record after it (None if there is no such job)."""
        [outcome] = await self.cancel_many([job_id], now_ms)
        if outcome is CancelOutcome.NOT_FOUND:
            return outcome, None
        return outcome, await self.get(job_id)

    async def cancel_many(
        self, job_ids: Sequence[str], now_ms: int, *, workspace_id: str | None = None
    ) -> list[CancelOutcome]:
        """Cancel jobs not yet on their way to the provider: those SCHEDULED, and those taken
        by a sender that has not given them their send slot; one outcome per id, in order.

        With `workspace_id`, another workspace's job is `NOT_FOUND`. The ids are handled
        `CANCEL_CHUNK_SIZE` per script call, so each call is short.
        """
        outcomes: list[CancelOutcome] = []
        only = workspace_id or ""
        with translate_redis_errors():
            for start in range(0, len(job_ids), CANCEL_CHUNK_SIZE):
                chunk = job_ids[start : start + CANCEL_CHUNK_SIZE]
                codes = await self._cancel_jobs(
                    keys=[], args=["ids", self._keys.prefix, now_ms, only, *chunk]
                )
                outcomes += [CancelOutcome(int(code)) for code in codes]
        return outcomes

    async def cancel_campaign(
        self, workspace_id: str, campaign_id: str, now_ms: int
    ) -> CancelCounts:
        """Cancel every job of a workspace's campaign (``metadata.campaignId``) not yet on its
        way to the provider, `CANCEL_CHUNK_SIZE` jobs per script call; a job created into the
        campaign while this runs is cancelled too if this has not finished yet."""
        key = self._keys.campaign(workspace_id, campaign_id)
        counts = CancelCounts()
        start = 0
        with translate_redis_errors():
            while start >= 0:
                reply = await self._cancel_jobs(
                    keys=[key],
                    args=[
                        "campaign",
                        self._keys.prefix,
                        now_ms,
                        workspace_id,
                        start,
                        CANCEL_CHUNK_SIZE,
                    ],
                )
                start = int(reply[0])
                not_found, cancelled, already, not_cancellable = (int(n) for n in reply[1:])
                counts += CancelCounts(cancelled, already, not_cancellable, not_found)
        return counts

    async def campaign_size(self, workspace_id: str, campaign_id: str) -> int:
        """How many jobs were created into a workspace's campaign (retention may have removed
        some of them since); 0 for a campaign that has none."""
        with translate_redis_errors():
            size: int = await self._redis.llen(self._keys.campaign(workspace_id, campaign_id))
        return size

    async def is_on_its_way(self, channel: str, job_id: str) -> bool:
        """Whether a job in flight on `channel` has its send slot, so that a cancel can no
        longer stop it (it reaches the provider within the pacer's horizon)."""
        with translate_redis_errors():
            member = await self._redis.sismember(self._keys.sending(channel), job_id)
        return bool(member)

    async def list_workspace_jobs(
        self,
        workspace_id: str,
        *,
        limit: int,
        status: str | None = None,
        channel: str | None = None,
        cursor: Cursor | None = None,
    ) -> tuple[list[JobRecord], Cursor | None]:
        """One page of a workspace's jobs, newest first, and the cursor of the next page.

        With a filter the page examines at most `LIST_SCAN_BUDGET` jobs and may hold fewer than
        `limit`; the cursor is None only when the index is exhausted.
        """
        index = self._keys.workspace_jobs(workspace_id)
        filtered = status is not None or channel is not None
        found: list[JobRecord] = []
        examined = 0
        with translate_redis_errors():
            while True:
                want = min(LIST_SCAN_BUDGET - examined, 200) if filtered else limit - len(found)
                after_id = cursor.job_id if cursor else ""
                after_score = cursor.score if cursor else 0
                flat = await self._page_ids(keys=[index], args=[after_id, after_score, want])
                ids = [item.decode() for item in flat[::2]]
                scores = [int(float(item)) for item in flat[1::2]]
                if not ids:
                    return found, None
                raws = await self._redis.mget([self._keys.job(job_id) for job_id in ids])
                for job_id, score, raw in zip(ids, scores, raws, strict=True):
                    cursor = Cursor(score, job_id)
                    examined += 1
                    if raw is None:
                        continue  # the record expired; its index entry is stale
                    record = JobRecord.decode(job_id, raw)
                    if status is not None and record.status != status:
                        continue
                    if channel is not None and record.channel != channel:
                        continue
                    found.append(record)
                    if len(found) == limit:
                        return found, cursor
                if len(ids) < want:
                    return found, None
                if examined >= LIST_SCAN_BUDGET:
                    return found, cursor
