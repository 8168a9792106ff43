"""The benchmark scenarios for queue-services itself (see run.py for the harness and the table).

Each function takes the URL of a fresh, empty Redis and returns its figures as a dict. Real
processes throughout: `queue-services serve` for the API, `queue-services worker` for delivery,
SDK clients over HTTP, a webhook receiver on 127.0.0.1 where the provider's clock is needed.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path

import httpx
import redis as redis_lib

sys.path.insert(0, str(Path(__file__).parents[2]))

from queue_services import AsyncQueueService
from queue_services_server.dev import free_port
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.records import JobRecord
from tests.benchmarks.common import (
    TEXT,
    Figures,
    campaign_job,
    percentile,
    rss_mb,
    tree_rss_mb,
)
from tests.benchmarks.hosts import Host
from tests.harness import wait_until
from tests.receiver import max_per_window, running_receiver
from tests.workers import running_worker, start_worker, stop_worker, worker_env

KEYS = KeySpace()

KEY = "bench-admin-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@contextmanager
def api_server(redis_url: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`queue-services serve` on a free port (the per-key request limit off: it is measured)."""
    port = free_port()
    env = {
        **worker_env(redis_url),
        "QUEUE_SERVICES_ADMIN_KEY": KEY,
        "API_RATE_LIMIT": "0",
        "QUEUE_SERVICES_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "queue_services_server.cli", "serve", "--port", str(port)],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/ready").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout_s=30, message="the API server did not start")
        yield process, url
    finally:
        process.terminate()
        process.wait(30)


def _sms(i: int, workspace: str, **extra: object) -> dict[str, object]:
    return {
        "phoneNumber": f"+1415555{i % 10_000:04d}",
        "message": TEXT,
        "workspaceId": workspace,
        **extra,
    }


def schedule_bulk(
    url: str, items: list[dict[str, object]], *, channel: str = "sms", per_request: int = 5000
) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    with httpx.Client(base_url=url, headers=AUTH, timeout=120) as http:
        for start in range(0, len(items), per_request):
            answer = http.post(
                f"/api/schedule-{channel}/bulk",
                json={"messages": items[start : start + per_request]},
            )
            answer.raise_for_status()
            results += answer.json()["results"]
    return results


# ---- 1. intake ----------------------------------------------------------------------------------


def _client_process(url: str, clients: int, seconds: float, first: int) -> list[float]:
    """`clients` async SDK clients in this process, each scheduling SMS one at a time."""
    latencies: list[float] = []

    async def run() -> None:
        deadline = time.perf_counter() + seconds

        async def one(index: int) -> None:
            async with AsyncQueueService(base_url=url, api_key=KEY, max_retries=0) as queue:
                await queue.schedule_sms("+14155550123", TEXT, workspace_id=f"ws-{index}")  # warm
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    await queue.schedule_sms("+14155550123", TEXT, workspace_id=f"ws-{index}")
                    latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one(first + index) for index in range(clients)))

    asyncio.run(run())
    return latencies


def intake_single(
    redis_url: str, *, seconds: float, clients: int = 16, processes: int = 2
) -> Figures:
    """Single `schedule_sms` calls through the async SDK: `clients` concurrent clients spread
    over `processes` client processes (one Python process cannot drive more than about 1,800
    calls/s: the HTTP client's own CPU is the bound there, not the server)."""
    with api_server(redis_url) as (_, url):
        per_process = clients // processes
        with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
            parts = pool.map(
                _client_process,
                [url] * processes,
                [per_process] * processes,
                [seconds] * processes,
                [i * per_process for i in range(processes)],
            )
            latencies = [latency for part in parts for latency in part]
    return {
        "requests_per_s": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def intake_bulk(redis_url: str, *, messages: int = 5000) -> Figures:
    """One bulk request of `messages` SMS over HTTP (the second of two: the first warms up)."""
    items = [_sms(i, f"ws-{i % 5}") for i in range(messages)]
    with (
        api_server(redis_url) as (_, url),
        httpx.Client(base_url=url, headers=AUTH, timeout=120) as http,
    ):
        http.post("/api/schedule-sms/bulk", json={"messages": items[:100]}).raise_for_status()
        started = time.perf_counter()
        answer = http.post("/api/schedule-sms/bulk", json={"messages": items})
        elapsed = time.perf_counter() - started
        if answer.json()["accepted"] != messages:
            raise RuntimeError(answer.text[:300])
    return {"messages_per_s": messages / elapsed}


# ---- 2. dispatch throughput ---------------------------------------------------------------------


@contextmanager
def running_workers(
    env: dict[str, str], *, processes: int, threads: int = 4, hosts: Sequence[Host] = ()
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """One `queue-services worker` with `processes` processes, or, given `hosts`, one such worker
    inside each host's network namespace; returns when all of them are up."""
    places = [host.command() for host in hosts] or [[]]
    started: list[subprocess.Popen[bytes]] = []
    try:
        for prefix in places:
            started.append(
                start_worker(
                    env,
                    processes=processes,
                    threads=threads,
                    prefix=prefix,
                    heartbeats=processes * (len(started) + 1),
                )
            )
        yield started
    finally:
        for worker in started:
            stop_worker(worker)


def dispatch_throughput(
    redis_url: str,
    *,
    messages: int,
    processes: int = 2,
    batch_size: int | None = None,
    hosts: Sequence[Host] = (),
    threads: int = 8,
    settings: dict[str, object] | None = None,
) -> Figures:
    """`messages` SMS due, no rate limit, the null provider: from due to recorded, messages/s.

    The channel is paused (the board's pause) while the jobs are stored and the workers start;
    the clock runs from the resume, when they all become sendable at once, to the moment the last
    one is recorded COMPLETED (its record's own time). With `hosts`, a worker of `processes`
    processes runs in each host. `settings` override the workers' (e.g. a webhook provider).
    """
    client = redis_lib.Redis.from_url(redis_url)
    env = worker_env(redis_url, sms_provider="null", email_provider="null", sms_rate_limit=0)
    if batch_size is not None:
        env["SMS_BATCH_SIZE"] = str(batch_size)
    env.update({name.upper(): str(value) for name, value in (settings or {}).items()})
    with api_server(redis_url) as (server, url):
        client.set(KEYS.paused("sms"), "1")
        schedule_bulk(url, [_sms(i, f"ws-{i % 20}") for i in range(messages)])
        with running_workers(env, processes=processes, threads=threads, hosts=hosts) as workers:
            time.sleep(1.0)  # every worker process up and idle
            idle_worker_mb = tree_rss_mb(workers[0].pid)
            idle_server_mb = rss_mb(server.pid)
            due = time.time()
            client.delete(KEYS.paused("sms"))
            client.lpush(KEYS.wake("sms"), "1")
            busy_worker_mb = 0.0

            def all_sent() -> bool:
                nonlocal busy_worker_mb
                if client.zcard(KEYS.state("sms", "COMPLETED")) >= messages:
                    return True
                busy_worker_mb = max(busy_worker_mb, tree_rss_mb(workers[0].pid))
                return False

            wait_until(
                all_sent, timeout_s=600, message="the messages were not all sent within 10 minutes"
            )
            newest = client.zrange(KEYS.state("sms", "COMPLETED"), -1, -1, withscores=True)
    client.close()
    elapsed = float(newest[0][1]) / 1000 - due
    return {
        "messages_per_s": messages / elapsed,
        "worker_idle_rss_mb": idle_worker_mb,
        "worker_busy_rss_mb": busy_worker_mb,
        "server_idle_rss_mb": idle_server_mb,
    }


# ---- 3. rate-limit accuracy ---------------------------------------------------------------------


def rate_limit(
    redis_url: str,
    *,
    messages: int,
    rate: int,
    processes: int = 2,
    hosts: Sequence[Host] = (),
    receiver_host: str = "127.0.0.1",
) -> Figures:
    """`messages` SMS at `rate`/s through the webhook provider; times read at the receiver (on
    `receiver_host`, an address the workers can reach). With `hosts`, a worker in each."""
    with running_receiver(host=receiver_host) as receiver, api_server(redis_url) as (_, url):
        schedule_bulk(url, [_sms(i, "ws-a" if i % 2 else "ws-b") for i in range(messages)])
        env = worker_env(
            redis_url,
            sms_provider="webhook",
            email_provider="null",
            sms_api_url=receiver.url,
            sms_rate_limit=rate,
        )
        with running_workers(env, processes=processes, hosts=hosts):
            receiver.wait_for(messages, timeout_s=messages / rate * 2 + 60)
        times = sorted(r.at for r in receiver.sent())
    ideal = messages / rate  # the yardstick: 2,000 at 50/s take 40 s
    total = times[-1] - times[0]
    return {
        "first_to_last_s": total,
        "utilisation_pct": ideal / total * 100 if total else 0.0,
        "max_per_1s_window": float(max_per_window(times, 1.0)),
    }


# ---- 4. lateness --------------------------------------------------------------------------------


def lateness(redis_url: str, *, messages: int, spread_s: float = 10.0) -> Figures:
    """`messages` SMS due over `spread_s`; provider arrival - due time."""
    with running_receiver() as receiver, api_server(redis_url) as (_, url):
        env = worker_env(
            redis_url,
            sms_provider="webhook",
            email_provider="null",
            sms_api_url=receiver.url,
            sms_rate_limit=0,
        )
        with running_worker(env, processes=1):
            items = [
                _sms(i, f"ws-{i % 4}", delay=2000 + int(i * spread_s * 1000 / messages))
                for i in range(messages)
            ]
            results = schedule_bulk(url, items)
            client = redis_lib.Redis.from_url(redis_url)
            due = {
                str(result["jobId"]): JobRecord.decode(
                    str(result["jobId"]), client.get(KEYS.job(str(result["jobId"]))) or b"{}"
                ).scheduled_for
                / 1000
                for result in results
            }
            client.close()
            receiver.wait_for(messages, timeout_s=spread_s + 60)
        late = [r.at - due[r.headers["idempotency-key"]] for r in receiver.sent()]
    return {
        "p50_ms": percentile(late, 0.5) * 1000,
        "p99_ms": percentile(late, 0.99) * 1000,
        "max_ms": max(late) * 1000,
    }


# ---- 5. fairness --------------------------------------------------------------------------------


def fairness(
    redis_url: str,
    *,
    backlog: int,
    rate: int = 100,
    small: int = 10,
    settings: dict[str, object] | None = None,
) -> Figures:
    """Workspace A has `backlog` due; then B schedules `small`. How long B's messages wait.
    `settings` override the workers' (e.g. a webhook provider)."""
    client = redis_lib.Redis.from_url(redis_url)
    env = worker_env(redis_url, sms_provider="null", email_provider="null", sms_rate_limit=rate)
    env.update({name.upper(): str(value) for name, value in (settings or {}).items()})
    with api_server(redis_url) as (_, url):
        schedule_bulk(url, [_sms(i, "ws-a") for i in range(backlog)])
        with running_worker(env, processes=2):
            time.sleep(1.0)  # A is being sent
            results = schedule_bulk(url, [_sms(i, "ws-b") for i in range(small)])
            ids = [str(result["jobId"]) for result in results]
            records: list[JobRecord] = []

            def b_served() -> bool:
                nonlocal records
                records = [
                    JobRecord.decode(job_id, raw)
                    for job_id, raw in zip(
                        ids, client.mget([KEYS.job(i) for i in ids]), strict=True
                    )
                    if raw
                ]
                return all(record.status == "COMPLETED" for record in records)

            wait_until(b_served, timeout_s=60, message="workspace B was not served within 60 s")
    client.close()
    waits = [((record.sent_at or 0) - record.created_at) / 1000 for record in records]
    return {"b_wait_p50_s": statistics.median(waits), "b_wait_max_s": max(waits)}


# ---- 6. scale -----------------------------------------------------------------------------------


#: Messages per bulk request of the memory scenario, by channel: 1,000 emails of 20 KB are a
#: 20 MB body, under the server's MAX_BULK_BODY_BYTES (32 MB); 5,000 would not be.
_PER_REQUEST = {"sms": 5000, "email": 1000}


def memory_per_message(redis_url: str, *, messages: int, channel: str = "sms") -> Figures:
    """Redis used_memory per scheduled message (due in an hour), stored through the API: the
    seeds' fields, 20 workspaces with a campaign each (`common.campaign_job`: an SMS of 70
    characters, or an email with a 20 KB html). The peers add the same job data."""
    client = redis_lib.Redis.from_url(redis_url)
    per_request = _PER_REQUEST[channel]
    with api_server(redis_url) as (_, url):
        warm = {**campaign_job(channel, 0), "workspaceId": "workspace-warm", "delay": 3_600_000}
        schedule_bulk(url, [warm], channel=channel)  # scripts and structures
        before = int(client.info("memory")["used_memory"])
        for start in range(0, messages, per_request):
            items = [
                {**campaign_job(channel, i), "delay": 3_600_000}
                for i in range(start, min(start + per_request, messages))
            ]
            schedule_bulk(url, items, channel=channel, per_request=per_request)
        after = int(client.info("memory")["used_memory"])
    client.close()
    return {"bytes_per_message": (after - before) / messages}


def dispatch_with_scheduled(redis_url: str, *, scheduled: int, due: int) -> Figures:
    """Dispatch throughput of `due` messages while `scheduled` more wait for tomorrow."""
    with api_server(redis_url) as (_, url):
        later = [_sms(i, f"ws-{i % 20}", delay=86_400_000) for i in range(scheduled)]
        schedule_bulk(url, later)
    figures = dispatch_throughput(redis_url, messages=due)
    return {"messages_per_s": figures["messages_per_s"]}
