"""Campaign scenarios (issue 16): one workspace's campaign of up to a million SMS, scheduled for one
moment or queued, and what it does to everyone else: another workspace's messages behind it, the
campaign cancelled in one call, and Redis's longest single command meanwhile (its slow log).

Each function takes the URL of a fresh, empty Redis and returns its figures (run.py makes the
table). Real processes, as in ours.py: `queue-services serve`, `queue-services worker`, the
webhook provider delivering to the receiver of tests/receiver.py (it answers at once), the
messages with the seeds' fields (`common.crm_sms`), loaded through the bulk API.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis as redis_lib

sys.path.insert(0, str(Path(__file__).parents[2]))

from tests.benchmarks.common import (
    NotAvailable,
    NotedFigures,
    crm_sms,
    crm_uuid,
    percentile,
    script_names,
)
from tests.benchmarks.ours import AUTH, api_server, schedule_bulk
from tests.harness import WaitTimeout, wait_until
from tests.receiver import running_receiver
from tests.workers import delivery_env, running_worker

#: The campaign's workspace and campaign id, and the other workspace's.
A, CAMPAIGN_A = "workspace-a", crm_uuid(1, kind=9)
B, CAMPAIGN_B = "workspace-b", crm_uuid(2, kind=9)

#: Messages per bulk request when loading a campaign (the issue's "5,000 per request"), and
#: requests at once: the API server runs one process per core (2 here), so 2 keep both busy.
PER_REQUEST = 5000
PARALLEL_REQUESTS = 2

#: Messages/s the bulk API is assumed to load at least, to schedule the campaign far enough ahead
#: that loading ends before it is due. Measured on the 2-core machine of docs/benchmarks.md, 2
#: requests at once: 17,500/s for 1,000,000 with the worker running (26,000/s for 200,000
#: without; one request at a time, 16,000/s); about half, for a busier machine. A run whose
#: loading ends too late is refused, not reported.
LOAD_FLOOR_PER_S = 8000

#: Microseconds: a command that runs this long or longer goes into Redis's slow log.
SLOWLOG_THRESHOLD_US = 1000

#: Milliseconds: the issue's bound on any one Redis call ("no call over ~20 ms").
LONG_COMMAND_MS = 20.0


# ---- loading ------------------------------------------------------------------------------------


def schedule_many(
    url: str,
    count: int,
    make: Callable[[int], dict[str, Any]],
    *,
    per_request: int = PER_REQUEST,
    parallel: int = PARALLEL_REQUESTS,
) -> None:
    """Schedule `count` SMS (`make(i)` builds message i) through ``POST /api/schedule-sms/bulk``,
    `per_request` a request, `parallel` requests at once. Each request's messages are built as it
    is sent, so a million never sit in this process. Raises unless every message was accepted."""
    starts = list(range(0, count, per_request))
    failures: list[str] = []

    def stripe(first: int) -> None:
        with httpx.Client(base_url=url, headers=AUTH, timeout=300) as http:
            for start in starts[first::parallel]:
                if failures:
                    return
                messages = [make(i) for i in range(start, min(start + per_request, count))]
                try:
                    answer = http.post(
                        "/api/schedule-sms/bulk",
                        content=orjson.dumps({"messages": messages}),
                        headers={"Content-Type": "application/json"},
                    )
                    accepted = orjson.loads(answer.content).get("accepted")
                except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
                    failures.append(repr(exc))
                    return
                if answer.status_code != 200 or accepted != len(messages):
                    failures.append(f"{answer.status_code}: {answer.text[:300]}")

    threads = [threading.Thread(target=stripe, args=(k,)) for k in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"a bulk request was not wholly accepted: {failures[0]}")


def lookup(url: str, job_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The jobs as ``POST /api/jobs/lookup`` shows them (500 ids a request)."""
    jobs: list[dict[str, Any]] = []
    with httpx.Client(base_url=url, headers=AUTH, timeout=60) as http:
        for start in range(0, len(job_ids), 500):
            answer = http.post("/api/jobs/lookup", json={"jobIds": job_ids[start : start + 500]})
            answer.raise_for_status()
            jobs += answer.json()["jobs"]
    return jobs


def _iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _seconds(instant: str) -> float:
    return datetime.fromisoformat(instant).timestamp()


def lateness_s(job: Mapping[str, Any]) -> float:
    """How late a job was sent: sentAt - scheduledFor, s (inf if it was not sent)."""
    if job.get("status") != "COMPLETED" or not job.get("sentAt"):
        return math.inf
    return _seconds(job["sentAt"]) - _seconds(job["scheduledFor"])


def _finished(url: str, job_ids: Sequence[str], timeout_s: float) -> list[dict[str, Any]]:
    """Wait until every job is COMPLETED or FAILED, at most `timeout_s`; the jobs as they are
    then (the caller reports those not sent as infinitely late)."""
    jobs: list[dict[str, Any]] = []

    def done() -> bool:
        nonlocal jobs
        jobs = lookup(url, job_ids)
        return len(jobs) == len(job_ids) and all(
            job["status"] in ("COMPLETED", "FAILED") for job in jobs
        )

    with suppress(WaitTimeout):
        wait_until(done, timeout_s=timeout_s, interval_s=0.1)
    return jobs


# ---- Redis's slow log ---------------------------------------------------------------------------


#: The client name of the benchmark's own connection: its CONFIG and SLOWLOG commands are not
#: the system's, and are left out of what the slow log shows.
HARNESS_CLIENT = "benchmark-harness"


@dataclass(frozen=True)
class SlowCommands:
    """What Redis's slow log held: the longest command, how many took over the bound, and the
    slowest kinds of command."""

    #: The longest command, ms; the threshold when none reached it (an upper bound then).
    longest_ms: float
    #: Its name: the command, a Lua script by name (``EVALSHA claim``), or "" when none.
    longest: str
    #: Commands over `LONG_COMMAND_MS`.
    over_bound: int
    #: Commands in the log (each at least the threshold).
    logged: int
    #: (name, longest ms, how many logged) for each kind of command, the slowest first.
    kinds: tuple[tuple[str, float, int], ...] = ()

    def note(self, window: str) -> str:
        if not self.logged:
            return f"{window}: no Redis command took {SLOWLOG_THRESHOLD_US / 1000:g} ms or more"
        kinds = ", ".join(f"{name} {ms:.1f} ms (x{count})" for name, ms, count in self.kinds[:4])
        return (
            f"{window}: longest Redis command {self.longest_ms:.1f} ms ({self.longest}); "
            f"{self.logged} at or over {SLOWLOG_THRESHOLD_US / 1000:g} ms, "
            f"{self.over_bound} over {LONG_COMMAND_MS:g} ms; slowest kinds: {kinds}"
        )


def command_name(command: str, scripts: Mapping[str, str]) -> str:
    """A slow-log entry's command line, named: ``EVALSHA <sha> ...`` by its script's name,
    ``FCALL <function> ...`` by its function, anything else by its first word."""
    words = command.split()
    if not words:
        return "?"
    verb = words[0].upper()
    if verb in ("EVALSHA", "EVALSHA_RO") and len(words) > 1:
        return f"{verb} {scripts.get(words[1].lower(), words[1][:12])}"
    if verb in ("FCALL", "FCALL_RO", "SCRIPT", "CONFIG", "CLIENT") and len(words) > 1:
        return f"{verb} {words[1]}"
    return verb


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")


def summarise(entries: Sequence[Mapping[str, Any]], scripts: Mapping[str, str]) -> SlowCommands:
    """The slow log's entries (redis-py's ``slowlog_get``: ``duration`` in µs, ``command``,
    ``client_name``), those of `HARNESS_CLIENT` left out."""
    found = [
        (command_name(_text(entry["command"]), scripts), int(entry["duration"]) / 1000)
        for entry in entries
        if _text(entry.get("client_name")) != HARNESS_CLIENT
    ]
    if not found:
        return SlowCommands(SLOWLOG_THRESHOLD_US / 1000, "", 0, 0)
    kinds: dict[str, tuple[float, int]] = {}
    for name, ms in found:
        longest, count = kinds.get(name, (0.0, 0))
        kinds[name] = (max(longest, ms), count + 1)
    ranked = sorted(((name, ms, n) for name, (ms, n) in kinds.items()), key=lambda k: -k[1])
    return SlowCommands(
        longest_ms=ranked[0][1],
        longest=ranked[0][0],
        over_bound=sum(1 for _, ms in found if ms > LONG_COMMAND_MS),
        logged=len(found),
        kinds=tuple(ranked),
    )


class SlowLog:
    """Redis's slow log on the benchmark's own server: every command of at least
    `SLOWLOG_THRESHOLD_US` between `reset()` and `read()` (up to 100,000 of them). Off until
    `reset()`, so that what came before (loading) neither fills it nor costs its upkeep."""

    def __init__(self, client: redis_lib.Redis) -> None:
        self.client = client
        client.client_setname(HARNESS_CLIENT)
        client.config_set("slowlog-log-slower-than", -1)
        client.config_set("slowlog-max-len", 100_000)
        self.scripts = script_names()

    def reset(self) -> None:
        self.client.slowlog_reset()
        self.client.config_set("slowlog-log-slower-than", SLOWLOG_THRESHOLD_US)

    def read(self) -> SlowCommands:
        return summarise(self.client.slowlog_get(-1), self.scripts)


# ---- 5b. fairness behind a scheduled campaign ---------------------------------------------------


def scheduled_campaign(
    redis_url: str,
    *,
    campaign: int,
    small: int = 10,
    rate: int = 100,
    lead_s: float | None = None,
) -> NotedFigures:
    """Workspace A schedules `campaign` SMS all due at one moment T (``sendAt``), workspace B
    `small` due at T + 1 s; the channel at `rate`/s. How late B's were sent (sentAt - due), and
    Redis's longest command from just before T until B's were all sent (the claim of A's
    campaign falls in it). A's are scheduled `lead_s` ahead (by default enough for loading at
    `LOAD_FLOOR_PER_S`); the run stops once B's are sent, or `bound_s` after their due time."""
    lead_s = lead_s if lead_s is not None else 15 + campaign / LOAD_FLOOR_PER_S
    bound_s = 60 + campaign / 5000
    client = redis_lib.Redis.from_url(redis_url)
    slow_log = SlowLog(client)
    with running_receiver() as receiver, api_server(redis_url) as (_, url):
        env = delivery_env(redis_url, receiver.url, sms_rate_limit=rate)
        with running_worker(env, processes=2):
            due_ms = (math.ceil(time.time()) + math.ceil(lead_s)) * 1000
            a_due, b_due = _iso(due_ms), _iso(due_ms + 1000)
            started = time.monotonic()
            schedule_many(url, campaign, lambda i: {**crm_sms(i, A, CAMPAIGN_A), "sendAt": a_due})
            load_s = time.monotonic() - started
            items = [{**crm_sms(i, B, CAMPAIGN_B), "sendAt": b_due} for i in range(small)]
            b_ids = [str(result["jobId"]) for result in schedule_bulk(url, items)]
            if time.time() > due_ms / 1000 - 1:
                raise RuntimeError(
                    f"loading {campaign:,} messages took {load_s:.0f} s, too close to their due "
                    f"time ({lead_s:.0f} s ahead): lower LOAD_FLOOR_PER_S in campaigns.py"
                )
            slow_log.reset()
            jobs = _finished(url, b_ids, timeout_s=(due_ms + 1000) / 1000 - time.time() + bound_s)
            slowest = slow_log.read()
    client.close()
    late = [lateness_s(job) for job in jobs] + [math.inf] * (small - len(jobs))
    notes = [slowest.note("from the end of loading (before T) until B's were sent")]
    if math.isinf(max(late)):
        notes.append(f"{sum(map(math.isinf, late))} of B's not sent within {bound_s:.0f} s")
    return NotedFigures(
        {
            "b_late_p50_s": percentile(late, 0.5),
            "b_late_max_s": max(late),
            "longest_command_ms": slowest.longest_ms,
            "commands_over_20ms": float(slowest.over_bound),
            "load_per_s": campaign / load_s,
        },
        notes,
    )


# ---- 8. mass cancel -----------------------------------------------------------------------------


def cancel_campaign(http: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    """``POST /api/jobs/cancel``; `NotAvailable` if this build has no such route."""
    answer = http.post("/api/jobs/cancel", json=body)
    no_route = answer.status_code == 405 or (
        answer.status_code == 404 and "no route" in answer.text
    )
    if no_route:
        raise NotAvailable(f"POST /api/jobs/cancel answered {answer.status_code}: no such route")
    return answer


def mass_cancel(redis_url: str, *, messages: int, small: int = 10, rate: int = 100) -> NotedFigures:
    """Workspace A's campaign of `messages` SMS is queued (due now, going out at `rate`/s), then
    one ``POST /api/jobs/cancel`` with A's workspace and campaign id: the call's duration and the
    counts it answered; Redis's longest command during the call; then workspace B schedules
    `small` SMS: how late they were sent, Redis's longest command until they were, and how many
    of the campaign reached the provider after the answer (the issue: none, beyond sends in
    flight). `NotAvailable` when the route is missing (checked before loading)."""
    client = redis_lib.Redis.from_url(redis_url)
    slow_log = SlowLog(client)
    body = {"workspaceId": A, "campaignId": CAMPAIGN_A}
    with (
        running_receiver() as receiver,
        api_server(redis_url) as (_, url),
        httpx.Client(base_url=url, headers=AUTH, timeout=600) as http,
    ):
        cancel_campaign(http, body)  # nothing to cancel yet: only whether the route exists
        env = delivery_env(redis_url, receiver.url, sms_rate_limit=rate)
        with running_worker(env, processes=2):
            schedule_many(url, messages, lambda i: crm_sms(i, A, CAMPAIGN_A))
            slow_log.reset()
            started = time.perf_counter()
            answer = cancel_campaign(http, body)
            cancel_s = time.perf_counter() - started
            answered_at = time.time()
            during = slow_log.read()
            if answer.status_code != 200:
                raise RuntimeError(f"cancel answered {answer.status_code}: {answer.text[:300]}")
            counts = answer.json()
            slow_log.reset()
            items = [crm_sms(i, B, CAMPAIGN_B) for i in range(small)]
            b_ids = [str(result["jobId"]) for result in schedule_bulk(url, items)]
            jobs = _finished(url, b_ids, timeout_s=60 + messages / 5000)
            after = slow_log.read()
        sent_after = sum(
            1
            for received in receiver.sent()
            if received.body.get("workspaceId") == A and received.at > answered_at
        )
    client.close()
    late = [lateness_s(job) for job in jobs] + [math.inf] * (small - len(jobs))
    figures = {
        "cancel_s": cancel_s,
        "longest_command_ms": during.longest_ms,
        "commands_over_20ms": float(during.over_bound),
        "after_longest_command_ms": after.longest_ms,
        "b_late_max_s": max(late),
        "campaign_sent_after": float(sent_after),
    }
    for field, name in (
        ("cancelled", "cancelled"),
        ("notCancellable", "not_cancellable"),
        ("notFound", "not_found"),
    ):
        if isinstance(counts.get(field), int | float):
            figures[name] = float(counts[field])
    notes = [
        during.note("during the call"),
        after.note("from the answer until B's were sent"),
        f"the answer: {orjson.dumps(counts).decode()[:200]}",
    ]
    if math.isinf(max(late)):
        notes.append(f"{sum(map(math.isinf, late))} of B's not sent within the bound")
    return NotedFigures(figures, notes)
