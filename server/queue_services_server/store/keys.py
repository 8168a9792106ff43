"""Every Redis key name the server uses, and the layout they form.

All keys start with a prefix (`QUEUE_SERVICES_REDIS_PREFIX`, default ``qs``) so that several
deployments can share one Redis. Key strings are built here; Lua scripts receive them in ``KEYS``,
except as said at the end of the table.

=================================  ======  =========================================================
key                                type    what it holds (who writes it)
=================================  ======  =========================================================
``{p}:job:{jobId}``                string  the job record: its fields as compact JSON, a newline,
                                           the body as sent, see ``store/records.py``
                                           (create_jobs.lua writes it, every status change too)
``{p}:schedule:{ch}:{ws}:{pri}``  zset    jobs of one workspace and priority waiting to be sent on
                                           channel ``ch``: member = job id, score = due time in ms
                                           since the epoch (create_jobs.lua adds, claim.lua takes,
                                           cancel removes; ``enqueue``/``dequeue`` in _common.lua)
``{p}:due:{ch}:{pri}``             zset    workspaces with jobs of priority ``pri`` waiting, none
                                           due yet: member = workspace, score = its earliest due
                                           time (ms); a claim moves those due into the round, so it
                                           touches workspaces, never a backlog's jobs
``{p}:round:{ch}:{pri}``           zset    workspaces with due jobs of priority ``pri``, in the
                                           order they are served: member = workspace, score = its
                                           place (ms): when its work became due, or when its last
                                           turn ended. A workspace with waiting jobs is in exactly
                                           one of ``due`` and ``round``
``{p}:deficit:{ch}``               hash    ``<ws>|<pri>`` -> jobs left in a workspace's current
                                           turn (deficit round robin, quantum = the batch size),
                                           while a turn was cut short by the room in flight
``{p}:priority-run:{ch}``          hash    priority -> claims in a row that passed over its
                                           due work (bounds starvation, claim.lua)
``{p}:campaign:{ws}:{campaign}``   list    ids of a workspace's jobs whose ``metadata.campaignId``
                                           is ``campaign``, in creation order (create_jobs.lua),
                                           for cancelling a campaign
``{p}:workspace:{ws}:jobs``        zset    every job of workspace ``ws``: member = job id, score =
                                           creation time in ms; the listing index behind
                                           ``GET /api/jobs`` (create_jobs.lua)
``{p}:state:{ch}:{status}``        zset    jobs of a channel in one status past SCHEDULED
                                           (PROCESSING, COMPLETED, FAILED, CANCELLED): member = job
                                           id, score = the time it entered the status (ms); counts
                                           by state, the board's lists and retention, with no scan
                                           (every script that changes a status moves the job
                                           between these)
``{p}:scheduled-count:{ch}``       string  how many jobs of a channel are SCHEDULED: they are
                                           listed by their schedules already, so a count is all
                                           they need (every script that moves a job into or out
                                           of SCHEDULED changes it)
``{p}:paused:{ch}``                string  present while an operator has paused the channel
``{p}:inflight:{ch}``              zset    jobs taken for sending: member = job id, score = lease
                                           expiry in ms; an expired lease (a killed worker) puts
                                           the job back on the schedule (claim.lua, finish.lua,
                                           renewed by the sending actor)
``{p}:wake:{ch}``                  list    at most one token: pushed when a job is created due soon
                                           (create_jobs.lua) or a batch finishes, so a sleeping
                                           dispatcher wakes at once
``{p}:rate-hold:{ch}:{account}``   string  ms time until which one provider account of a channel
                                           (``shared``, or a workspace with its own) sends
                                           nothing, after the provider's 429 (expires by itself)
``{p}:pace:{ch}``                  zset    the pacer's send log of a channel: member = a token
                                           unique to one send, score = its slot (ms, Redis's
                                           clock), moved to when the request started if later
``{p}:pace:{ch}:{ws}``             zset    the same for one workspace's tier
``{p}:pace-next:{ch}[:{ws}]``      string  the next free slot (ms) of the channel, or of the tier
``{p}:tiers:{ch}``                 hash    workspace -> its own limit on the channel, sends per
                                           second (``PUT /api/workspaces/{ws}/limits``; seeded
                                           from WORKSPACE_RATE_LIMITS where absent)
``{p}:owner:{ch}``                 hash    job id -> the batch holding it, while in flight
``{p}:sending:{ch}``               set     jobs in flight given their send slot (pace.lua): they
                                           go to the provider within the pacer's horizon, so a
                                           cancel leaves them be; a job in flight without a slot
                                           yet is cancellable (cancel_jobs.lua), finish.lua and
                                           claim.lua's reclaim take jobs out
``{p}:inflight-ws:{ch}``           hash    workspace -> its jobs in flight on the channel
``{p}:batch-run:{batch}``          string  the sender running a batch (set once, expires with
                                           the lease), so a batch delivered twice runs once
``{p}:rate-events:{ws}:{ch}``      list    a workspace's recent provider rate-limit hits, newest
                                           first, JSON ``{timestamp, batchSize, errorMessage}``,
                                           capped, expires 30 days after the last (finish.lua)
``{p}:callbacks``                  stream  status changes of jobs with a callback URL, to POST
                                           (every status-changing script; group ``senders``)
``{p}:callbacks:retry``            zset    callbacks that failed: member = JSON, score = when to
                                           try again (ms)
``{p}:outbox:{ch}``                list    messages the dev ``outbox`` provider "sent", newest
                                           first, capped
``{p}:retention-sweep``            string  a token that expires in a minute: the worker that sets
                                           it deletes finished jobs past JOB_RETENTION_S
                                           (retention.py)
``{p}:backlog``                    hash    workspace -> its jobs SCHEDULED or PROCESSING, for the
                                           backlog bound (create_jobs.lua adds, finish.lua,
                                           cancel_jobs.lua and requeue.lua move it)
``{p}:apikey:{id}``                string  an API key's record: JSON ``{hash, workspaceId,
                                           createdAt, name}``, the secret only as SHA-256
                                           (``store/api_keys.py``)
``{p}:apikeys``                    zset    every API key id, score = creation time (ms)
``{p}:api-rate:{id}``              string  requests made with a key in the current window
                                           (expires with the window)
``{p}:metrics:{ch}``               hash    channel counters: total, success, failed, retried,
                                           rateLimited, batches, batchMs, limiterWaits,
                                           lastProcessed, le_<s> batch-duration buckets
                                           (finish.lua, once per batch)
``{p}:metrics:{ch}:workspaces``    hash    ``<ws>|total``, ``<ws>|success``, ``<ws>|failed``,
                                           ``<ws>|rateLimited`` (finish.lua)
``{p}:metrics:{ch}:rate-limits``   hash    ``<ws>|count``, ``<ws>|last`` (ms) of provider
                                           rate-limit hits (finish.lua)
``{p}:series:{ch}:{bucket}``       hash    sent / failed / rateLimited in one 5 s bucket
                                           (bucket = its start, s); expires after 6 h
``{p}:schedule:{ch}``,             zset,   layout v1 (the first release): one schedule per
``{p}:lane:{ch}:{ws}:{pri}``,      list,   channel, lanes of due jobs, the round of workspaces
``{p}:ready:{ch}``                 zset    with due jobs. Read only by the upgrade
                                           (``store/upgrade.py``), which moves their jobs into
                                           the layout above and deletes them
``{p}:state:{ch}:SCHEDULED``       zset    earlier stores: the SCHEDULED jobs by time. The
                                           upgrade adds its size to ``scheduled-count`` and
                                           deletes it
``{p}:dramatiq:*``                 (many)  Dramatiq's own: the queues of batch messages
                                           (``send-sms-queue``, ``send-email-queue``), their
                                           acks and the workers' heartbeats (its RedisBroker)
=================================  ======  =========================================================

Lua scripts that reach keys of a workspace they learn from a job record (claim.lua, finish.lua),
or records of jobs they learn from a send log (tier_usage.lua), build those names from the prefix
they are given, with the patterns above; the store's tests check that the names they build are
the ones below.

Idempotency needs no key of its own: a job created with an ``Idempotency-Key`` gets an id derived
from (workspace, key) (``store/ids.py``), so "has this key been used?" is "does this job exist?".
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

#: Stands for a placeholder (a channel, a workspace id, ...) when key names are turned into
#: patterns; no real key contains it.
_PLACEHOLDER = "\x00"


@dataclass(frozen=True)
class KeySpace:
    """Builds the key names of one deployment (one prefix)."""

    prefix: str = "qs"

    def job(self, job_id: str) -> str:
        """The record of one job."""
        return f"{self.prefix}:job:{job_id}"

    def workspace_schedule(self, channel: str, workspace_id: str, priority: str) -> str:
        """The jobs of one workspace and priority waiting on a channel, by due time."""
        return f"{self.prefix}:schedule:{channel}:{workspace_id}:{priority}"

    def due(self, channel: str, priority: str) -> str:
        """Workspaces whose waiting jobs of a priority are not due yet, by earliest due time."""
        return f"{self.prefix}:due:{channel}:{priority}"

    def round(self, channel: str, priority: str) -> str:
        """Workspaces with due jobs of a priority, in the order they are served."""
        return f"{self.prefix}:round:{channel}:{priority}"

    def deficit(self, channel: str) -> str:
        """What is left of each workspace's current turn on a channel."""
        return f"{self.prefix}:deficit:{channel}"

    def priority_run(self, channel: str) -> str:
        """Per priority, the claims in a row that passed over its due work."""
        return f"{self.prefix}:priority-run:{channel}"

    def campaign(self, workspace_id: str, campaign_id: str) -> str:
        """The ids of a workspace's jobs of one campaign (``metadata.campaignId``)."""
        return f"{self.prefix}:campaign:{workspace_id}:{campaign_id}"

    def workspace_jobs(self, workspace_id: str) -> str:
        """The creation-time index of one workspace's jobs."""
        return f"{self.prefix}:workspace:{workspace_id}:jobs"

    def state(self, channel: str, status: str) -> str:
        """The jobs of a channel in one status, by the time they entered it."""
        return f"{self.prefix}:state:{channel}:{status}"

    def scheduled_count(self, channel: str) -> str:
        """How many jobs of a channel are SCHEDULED."""
        return f"{self.prefix}:scheduled-count:{channel}"

    def legacy_scheduled_index(self, channel: str) -> str:
        """Earlier stores: the SCHEDULED jobs of a channel by time (read by the upgrade only)."""
        return self.state(channel, "SCHEDULED")

    def paused(self, channel: str) -> str:
        """Set while the channel is paused."""
        return f"{self.prefix}:paused:{channel}"

    def legacy_schedule(self, channel: str) -> str:
        """Layout v1: the one schedule of a channel (read by the upgrade only)."""
        return f"{self.prefix}:schedule:{channel}"

    def legacy_lane(self, channel: str, workspace_id: str, priority: str) -> str:
        """Layout v1: due jobs of one workspace and priority (read by the upgrade only)."""
        return f"{self.prefix}:lane:{channel}:{workspace_id}:{priority}"

    def legacy_ready(self, channel: str) -> str:
        """Layout v1: the round of workspaces with due jobs (read by the upgrade only)."""
        return f"{self.prefix}:ready:{channel}"

    def inflight(self, channel: str) -> str:
        """Jobs taken for sending, with their lease expiry."""
        return f"{self.prefix}:inflight:{channel}"

    def wake(self, channel: str) -> str:
        """The dispatchers' wake-up token."""
        return f"{self.prefix}:wake:{channel}"

    def rate_hold(self, channel: str, account: str = "shared") -> str:
        """Until when the sends of one provider account on a channel are held back after the
        provider answered 429 (`Settings.provider_account` names the account)."""
        return f"{self.prefix}:rate-hold:{channel}:{account}"

    def pace(self, channel: str, workspace_id: str | None = None) -> str:
        """The send log the pacer keeps for a channel's limit, or for one workspace's tier."""
        if workspace_id is None:
            return f"{self.prefix}:pace:{channel}"
        return f"{self.prefix}:pace:{channel}:{workspace_id}"

    def pace_next(self, channel: str, workspace_id: str | None = None) -> str:
        """The next free send slot (ms) of a channel's limit, or of one workspace's tier."""
        if workspace_id is None:
            return f"{self.prefix}:pace-next:{channel}"
        return f"{self.prefix}:pace-next:{channel}:{workspace_id}"

    def tiers(self, channel: str) -> str:
        """Each workspace's own limit on a channel (sends per second), where it has one."""
        return f"{self.prefix}:tiers:{channel}"

    def owners(self, channel: str) -> str:
        """The batch that holds each job in flight on a channel."""
        return f"{self.prefix}:owner:{channel}"

    def sending(self, channel: str) -> str:
        """The jobs in flight on a channel that have their send slot: no longer cancellable."""
        return f"{self.prefix}:sending:{channel}"

    def workspace_inflight(self, channel: str) -> str:
        """Each workspace's count of jobs in flight on a channel."""
        return f"{self.prefix}:inflight-ws:{channel}"

    def batch_run(self, batch_id: str) -> str:
        """The one sender that runs a batch (a broker may deliver its message twice)."""
        return f"{self.prefix}:batch-run:{batch_id}"

    def rate_events(self, workspace_id: str, channel: str) -> str:
        """A workspace's recent provider rate-limit hits."""
        return f"{self.prefix}:rate-events:{workspace_id}:{channel}"

    def metrics(self, channel: str) -> str:
        """A channel's counters."""
        return f"{self.prefix}:metrics:{channel}"

    def workspace_metrics(self, channel: str) -> str:
        """A channel's per-workspace counters."""
        return f"{self.prefix}:metrics:{channel}:workspaces"

    def rate_limit_counts(self, channel: str) -> str:
        """Per-workspace counts and last times of provider rate-limit hits."""
        return f"{self.prefix}:metrics:{channel}:rate-limits"

    def series(self, channel: str, bucket_s: int) -> str:
        """One time-series bucket of a channel (`bucket_s`: its start, s since the epoch)."""
        return f"{self.prefix}:series:{channel}:{bucket_s}"

    def callbacks(self) -> str:
        """The stream of status changes to deliver to callback URLs."""
        return f"{self.prefix}:callbacks"

    def callback_retries(self) -> str:
        """Callbacks waiting for another attempt."""
        return f"{self.prefix}:callbacks:retry"

    def outbox(self, channel: str) -> str:
        """What the dev outbox provider "sent"."""
        return f"{self.prefix}:outbox:{channel}"

    def backlog(self) -> str:
        """Each workspace's count of jobs not yet finished (SCHEDULED or PROCESSING)."""
        return f"{self.prefix}:backlog"

    def api_key(self, key_id: str) -> str:
        """One API key's record (hashed secret, scope)."""
        return f"{self.prefix}:apikey:{key_id}"

    def api_keys(self) -> str:
        """The ids of every API key."""
        return f"{self.prefix}:apikeys"

    def api_rate(self, key_id: str) -> str:
        """Requests made with one key in the current rate window."""
        return f"{self.prefix}:api-rate:{key_id}"

    def retention_sweep(self) -> str:
        """The token of the worker that runs this minute's retention sweep."""
        return f"{self.prefix}:retention-sweep"

    def broker_namespace(self) -> str:
        """The prefix of Dramatiq's own keys (its RedisBroker's ``namespace``)."""
        return f"{self.prefix}:dramatiq"

    def broker_heartbeats(self) -> str:
        """Dramatiq's register of live worker processes (a zset of heartbeats)."""
        return f"{self.broker_namespace()}:__heartbeats__"

    def patterns(self) -> list[re.Pattern[str]]:
        """Every key name this deployment uses, as a pattern matching any value of its
        placeholders (Dramatiq's keys: anything under `broker_namespace`). For tests that check
        that Redis holds no key the layout above does not name."""
        found: list[re.Pattern[str]] = []
        for name, method in inspect.getmembers(self, inspect.ismethod):
            if name.startswith("_") or name == "patterns":
                continue
            parameters = inspect.signature(method).parameters.values()
            required = [p for p in parameters if p.default is inspect.Parameter.empty]
            for given in {len(required), len(parameters)}:
                key = method(*[_PLACEHOLDER] * given)
                found.append(re.compile(re.escape(key).replace(_PLACEHOLDER, ".+")))
        found.append(re.compile(re.escape(self.broker_namespace()) + ":.+"))
        return found
