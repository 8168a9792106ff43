"""Reading and changing job records in a test's Redis directly, in the stored form
(`store/records.py`), for tests that put a job in a state no API call can."""

from __future__ import annotations

import dataclasses

import redis as redis_lib

from queue_services_server.store.keys import KeySpace
from queue_services_server.store.records import JobRecord

KEYS = KeySpace()


def stored(redis: redis_lib.Redis, job_id: str) -> JobRecord:
    """The record of `job_id` as stored (the test fails if there is none)."""
    raw = redis.get(KEYS.job(job_id))
    assert raw is not None, f"no record for {job_id}"
    return JobRecord.decode(job_id, raw)


def set_status(redis: redis_lib.Redis, job_id: str, status: str) -> JobRecord:
    """Give a stored job `status`, changing nothing else (no index): the record written."""
    record = dataclasses.replace(stored(redis, job_id), status=status)
    redis.set(KEYS.job(job_id), record.encode())
    return record
