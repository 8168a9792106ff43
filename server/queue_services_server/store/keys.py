"""Every Redis key name the server uses, and the layout they form.

All keys start with a prefix (`QUEUE_SERVICES_REDIS_PREFIX`, default ``qs``) so that several
deployments can share one Redis. Key strings are built here and nowhere else; Lua scripts receive
them in ``KEYS``.

=================================  ======  =========================================================
key                                type    what it holds (who writes it)
=================================  ======  =========================================================
``{p}:job:{jobId}``                string  the job record: one compact JSON object, see
                                           ``store/records.py`` (create_jobs.lua, cancel_job.lua)
``{p}:schedule:{channel}``         zset    jobs waiting to be sent on ``channel`` (``sms``,
                                           ``email``): member = job id, score = due time in ms
                                           since the epoch. Due-time queries and cancel are
                                           O(log n) (create_jobs.lua adds, cancel_job.lua removes)
``{p}:workspace:{ws}:jobs``        zset    every job of workspace ``ws``: member = job id, score =
                                           creation time in ms; the listing index behind
                                           ``GET /api/jobs`` (create_jobs.lua)
=================================  ======  =========================================================

Idempotency needs no key of its own: a job created with an ``Idempotency-Key`` gets an id derived
from (workspace, key) (``store/ids.py``), so "has this key been used?" is "does this job exist?".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeySpace:
    """Builds the key names of one deployment (one prefix)."""

    prefix: str = "qs"

    def job(self, job_id: str) -> str:
        """The record of one job."""
        return f"{self.prefix}:job:{job_id}"

    def schedule(self, channel: str) -> str:
        """The due-time index of one channel."""
        return f"{self.prefix}:schedule:{channel}"

    def workspace_jobs(self, workspace_id: str) -> str:
        """The creation-time index of one workspace's jobs."""
        return f"{self.prefix}:workspace:{workspace_id}:jobs"
