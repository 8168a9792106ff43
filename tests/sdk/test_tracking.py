"""Job trackers (in memory and SQLite) and reconciling them with the server's view."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from queue_services import (
    InMemoryJobTracker,
    JobStatus,
    JobTracker,
    SqliteJobTracker,
    areconcile,
    reconcile,
)
from queue_services.testing import AsyncFakeQueueService, FakeQueueService, FakeServer


@pytest.fixture(params=["memory", "sqlite"])
def tracker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobTracker]:
    if request.param == "memory":
        yield InMemoryJobTracker()
    else:
        sqlite = SqliteJobTracker(tmp_path / "jobs.db")
        yield sqlite
        sqlite.close()


def test_reconcile_brings_pending_jobs_up_to_date_in_batches(tracker: JobTracker) -> None:
    # Given 7 jobs the app recorded, then sent, failed or cancelled on the server
    fake = FakeQueueService()
    results = [
        fake.schedule_sms("+14155550123", f"m{i}", workspace_id="ws-1", contact_id=f"c{i}")
        for i in range(7)
    ]
    for result, contact in zip(results, range(7), strict=True):
        tracker.record(result, contact_id=f"c{contact}")
    fake.complete(results[0].job_id)
    fake.fail(results[1].job_id, "invalid number")
    fake.cancel_job(results[2].job_id)

    # When the tracker is reconciled, 3 ids per request
    changed = reconcile(tracker, fake, batch_size=3)

    # Then the three changes are recorded and the rest stay pending
    assert changed == 3
    assert tracker.get(results[0].job_id).status is JobStatus.COMPLETED  # type: ignore[union-attr]
    failed = tracker.get(results[1].job_id)
    assert failed is not None
    assert (failed.status, failed.last_error, failed.contact_id) == (
        JobStatus.FAILED,
        "invalid number",
        "c1",
    )
    assert sorted(tracker.pending()) == sorted(r.job_id for r in results[3:])
    assert reconcile(tracker, fake) == 0


async def test_areconcile_with_the_async_client(tracker: JobTracker) -> None:
    server = FakeServer()
    fake = AsyncFakeQueueService(server=server)
    result = await fake.schedule_sms("+14155550123", "Hi", workspace_id="ws-1")
    tracker.record(result)
    server.complete(result.job_id)

    assert await areconcile(tracker, fake) == 1
    assert tracker.pending() == []


def test_sqlite_tracker_keeps_jobs_across_reopening(tmp_path: Path) -> None:
    fake = FakeQueueService()
    result = fake.schedule_email("jane@example.com", "Hi", text="x", workspace_id="ws-1")
    first = SqliteJobTracker(tmp_path / "jobs.db")
    first.record(result, contact_id="c-9")
    first.close()

    reopened = SqliteJobTracker(tmp_path / "jobs.db")
    tracked = reopened.get(result.job_id)
    reopened.close()

    assert tracked is not None
    assert (tracked.status, tracked.contact_id, tracked.scheduled_for) == (
        JobStatus.SCHEDULED, "c-9", result.scheduled_for,
    )  # fmt: skip
