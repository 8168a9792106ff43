"""Job tracking in app code: remember what was scheduled, and bring it up to date from the server.

`JobTracker` is the interface; `InMemoryJobTracker` and `SqliteJobTracker` (standard library
`sqlite3`) implement it. `reconcile` / `areconcile` fetch every job not yet final, in batches of
up to 500 ids per request, and record what changed.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from queue_services._limits import MAX_LOOKUP_IDS
from queue_services._models import Job, JobStatus, ScheduleResult

if TYPE_CHECKING:
    from queue_services._client import AsyncQueueService, QueueService


@dataclass(frozen=True)
class TrackedJob:
    """What the app remembers about one job."""

    job_id: str
    workspace_id: str
    contact_id: str | None
    status: JobStatus
    scheduled_for: datetime | None
    last_error: str | None
    updated_at: datetime


class JobTracker(Protocol):
    """Where app code keeps the jobs it scheduled."""

    def record(self, result: ScheduleResult, *, contact_id: str | None = None) -> TrackedJob:
        """Remember a job just scheduled."""
        ...

    def update(self, job: Job) -> TrackedJob | None:
        """Record the job's current state from the server (None if it is not tracked)."""
        ...

    def get(self, job_id: str) -> TrackedJob | None:
        """The tracked job, or None."""
        ...

    def pending(self) -> list[str]:
        """Ids of tracked jobs whose status is not final."""
        ...

    def apply(
        self, job_id: str, status: JobStatus, last_error: str | None, at: datetime
    ) -> TrackedJob | None:
        """Record a status change (from a callback). A change older than a final status already
        recorded (callbacks may arrive out of order), or an untracked job, changes nothing.
        Returns the job as tracked now."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


def _from_job(job: Job, tracked: TrackedJob) -> TrackedJob:
    return replace(
        tracked,
        status=job.status,
        scheduled_for=job.scheduled_for,
        last_error=job.last_error,
        updated_at=_now(),
    )


class InMemoryJobTracker:
    """A `JobTracker` in a dict: for tests and short-lived scripts."""

    def __init__(self) -> None:
        self._jobs: dict[str, TrackedJob] = {}

    def record(self, result: ScheduleResult, *, contact_id: str | None = None) -> TrackedJob:
        tracked = TrackedJob(
            result.job_id, result.workspace_id, contact_id, result.status, result.scheduled_for,
            None, _now(),
        )  # fmt: skip
        self._jobs[result.job_id] = tracked
        return tracked

    def update(self, job: Job) -> TrackedJob | None:
        tracked = self._jobs.get(job.job_id)
        if tracked is None:
            return None
        self._jobs[job.job_id] = _from_job(job, tracked)
        return self._jobs[job.job_id]

    def get(self, job_id: str) -> TrackedJob | None:
        return self._jobs.get(job_id)

    def pending(self) -> list[str]:
        return [job_id for job_id, job in self._jobs.items() if not job.status.is_final]

    def apply(
        self, job_id: str, status: JobStatus, last_error: str | None, at: datetime
    ) -> TrackedJob | None:
        tracked = self._jobs.get(job_id)
        if tracked is None or (tracked.status.is_final and at < tracked.updated_at):
            return tracked
        self._jobs[job_id] = replace(
            tracked, status=status, last_error=last_error or tracked.last_error, updated_at=at
        )
        return self._jobs[job_id]


class SqliteJobTracker:
    """A `JobTracker` in a SQLite file (or ``":memory:"``), safe to share between threads.

    Table ``queue_jobs``: job_id (key), workspace_id, contact_id, status, scheduled_for,
    last_error, updated_at (ISO 8601, UTC).
    """

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        with self._lock, self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS queue_jobs ("
                " job_id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, contact_id TEXT,"
                " status TEXT NOT NULL, scheduled_for TEXT, last_error TEXT,"
                " updated_at TEXT NOT NULL)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS queue_jobs_status ON queue_jobs (status)")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _save(self, job: TrackedJob) -> TrackedJob:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO queue_jobs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job.job_id, job.workspace_id, job.contact_id, job.status.value,
                    job.scheduled_for.isoformat() if job.scheduled_for else None,
                    job.last_error, job.updated_at.isoformat(),
                ),
            )  # fmt: skip
        return job

    def record(self, result: ScheduleResult, *, contact_id: str | None = None) -> TrackedJob:
        return self._save(
            TrackedJob(
                result.job_id,
                result.workspace_id,
                contact_id,
                result.status,
                result.scheduled_for,
                None,
                _now(),
            )
        )

    def update(self, job: Job) -> TrackedJob | None:
        tracked = self.get(job.job_id)
        return None if tracked is None else self._save(_from_job(job, tracked))

    def get(self, job_id: str) -> TrackedJob | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM queue_jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
        if row is None:
            return None
        return TrackedJob(
            row[0], row[1], row[2], JobStatus(row[3]),
            datetime.fromisoformat(row[4]) if row[4] else None, row[5],
            datetime.fromisoformat(row[6]),
        )  # fmt: skip

    def apply(
        self, job_id: str, status: JobStatus, last_error: str | None, at: datetime
    ) -> TrackedJob | None:
        tracked = self.get(job_id)
        if tracked is None or (tracked.status.is_final and at < tracked.updated_at):
            return tracked
        return self._save(
            replace(
                tracked, status=status, last_error=last_error or tracked.last_error, updated_at=at
            )
        )

    def pending(self) -> list[str]:
        final = tuple(status.value for status in JobStatus if status.is_final)
        with self._lock:
            rows = self._db.execute(
                f"SELECT job_id FROM queue_jobs WHERE status NOT IN ({','.join('?' * len(final))})",
                final,
            ).fetchall()
        return [row[0] for row in rows]


def _batches(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _apply(tracker: JobTracker, jobs: Iterable[Job]) -> int:
    changed = 0
    for job in jobs:
        before = tracker.get(job.job_id)
        after = tracker.update(job)
        if before is not None and after is not None and before.status != after.status:
            changed += 1
    return changed


def reconcile(
    tracker: JobTracker, client: QueueService, *, batch_size: int = MAX_LOOKUP_IDS
) -> int:
    """Bring every non-final tracked job up to date; returns how many changed status."""
    return sum(
        _apply(tracker, client.get_jobs(ids).jobs)
        for ids in _batches(tracker.pending(), batch_size)
    )


async def areconcile(
    tracker: JobTracker, client: AsyncQueueService, *, batch_size: int = MAX_LOOKUP_IDS
) -> int:
    """`reconcile` with the async client."""
    changed = 0
    for ids in _batches(tracker.pending(), batch_size):
        changed += _apply(tracker, (await client.get_jobs(ids)).jobs)
    return changed
