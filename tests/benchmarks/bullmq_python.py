"""The same scenarios for BullMQ's Python port (the `bullmq` package from PyPI), as its
documentation shows it used: `Queue.add` / `addBulk`, a `Worker` with a no-op async processor,
its worker limiter for rate limits. Options left at their defaults unless a scenario needs one.
Nothing here tunes the peer down; a scenario that stalls is reported as it is (`completed`).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from typing import Any

import redis as redis_lib

from tests.benchmarks.common import TEXT, Figures, campaign_job, percentile
from tests.harness import WaitTimeout, wait_until_async
from tests.receiver import max_per_window


def _data(i: int, workspace: str) -> dict[str, Any]:
    return {"phoneNumber": f"+1415555{i % 10_000:04d}", "message": TEXT, "workspaceId": workspace}


def _connection(redis_url: str) -> dict[str, Any]:
    return {"connection": redis_url}


def _limited_worker(redis_url: str, process: Any, rate: int) -> Any:
    """A Worker with BullMQ's own limiter: at most `rate` jobs per 1000 ms."""
    from bullmq import Worker

    options = {"concurrency": 50, "limiter": {"max": rate, "duration": 1000}}
    return Worker("sms", process, {**_connection(redis_url), **options})


async def _add_bulk(queue: Any, jobs: list[dict[str, Any]]) -> None:
    for start in range(0, len(jobs), 5000):
        await queue.addBulk(jobs[start : start + 5000])


async def _completed(queue: Any) -> int:
    counts = await queue.getJobCounts("completed")
    return int(counts.get("completed", 0))


def intake_single(redis_url: str, *, seconds: float, clients: int = 16) -> Figures:
    from bullmq import Queue

    async def run() -> list[float]:
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        async def one(index: int) -> None:
            queue = Queue("sms", _connection(redis_url))
            try:
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    await queue.add("send", _data(index, f"ws-{index}"))
                    latencies.append(time.perf_counter() - started)
            finally:
                await queue.close()

        await asyncio.gather(*(one(index) for index in range(clients)))
        return latencies

    latencies = asyncio.run(run())
    return {
        "requests_per_s": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def intake_bulk(redis_url: str, *, messages: int = 5000) -> Figures:
    from bullmq import Queue

    async def run() -> float:
        queue = Queue("sms", _connection(redis_url))
        try:
            await queue.addBulk([{"name": "send", "data": _data(i, "ws-0")} for i in range(100)])
            jobs = [{"name": "send", "data": _data(i, f"ws-{i % 5}")} for i in range(messages)]
            started = time.perf_counter()
            await queue.addBulk(jobs)
            return time.perf_counter() - started
        finally:
            await queue.close()

    return {"messages_per_s": messages / asyncio.run(run())}


def dispatch_throughput(redis_url: str, *, messages: int, concurrency: int = 50) -> Figures:
    """`messages` waiting in a paused queue; resume; until all are completed."""
    from bullmq import Queue, Worker

    async def run() -> float:
        queue = Queue("sms", _connection(redis_url))
        await queue.pause()
        await _add_bulk(
            queue, [{"name": "send", "data": _data(i, f"ws-{i % 20}")} for i in range(messages)]
        )

        async def process(job: Any, token: str) -> str:
            return "ok"

        worker = Worker("sms", process, {**_connection(redis_url), "concurrency": concurrency})
        await asyncio.sleep(1.0)
        started = time.time()
        await queue.resume()

        async def all_completed() -> bool:
            # polling the peer's own counts, as a user of BullMQ would
            return await _completed(queue) >= messages

        with suppress(WaitTimeout):  # not all done in 10 minutes: reported as never finishing
            await wait_until_async(all_completed, timeout_s=600, interval_s=0.05)
        elapsed = time.time() - started
        done = await _completed(queue)
        await worker.close()
        await queue.close()
        return elapsed if done == messages else float("inf")

    elapsed = asyncio.run(run())
    return {"messages_per_s": messages / elapsed}


def rate_limit(redis_url: str, *, messages: int, rate: int) -> Figures:
    """Its worker limiter at `rate` per 1000 ms; times taken as the processor is called."""
    from bullmq import Queue

    times: list[float] = []
    cap_s = messages / rate * 2 + 30

    async def run() -> None:
        queue = Queue("sms", _connection(redis_url))
        await _add_bulk(
            queue, [{"name": "send", "data": _data(i, "ws-a")} for i in range(messages)]
        )

        async def process(job: Any, token: str) -> str:
            times.append(time.time())
            return "ok"

        worker = _limited_worker(redis_url, process, rate)
        with suppress(WaitTimeout):  # the figures say how many were processed
            await wait_until_async(lambda: len(times) >= messages, timeout_s=cap_s, interval_s=0.1)
        await worker.close()
        await queue.close()

    asyncio.run(run())
    ideal = messages / rate
    total = max(times) - min(times) if len(times) > 1 else 0.0
    complete = len(times) >= messages
    return {
        "first_to_last_s": total if complete else float("inf"),
        "utilisation_pct": (ideal / total * 100 if total else 0.0) if complete else 0.0,
        "max_per_1s_window": float(max_per_window(times, 1.0)),
        "completed": float(len(times)),
    }


def lateness(redis_url: str, *, messages: int, spread_s: float = 10.0) -> Figures:
    """Delayed jobs due over `spread_s`; processor call time - (added + delay)."""
    from bullmq import Queue, Worker

    late: list[float] = []

    async def run() -> None:
        queue = Queue("sms", _connection(redis_url))

        async def process(job: Any, token: str) -> str:
            late.append(time.time() - (job.timestamp + job.opts.get("delay", 0)) / 1000)
            return "ok"

        worker = Worker("sms", process, {**_connection(redis_url), "concurrency": 50})
        await asyncio.sleep(1.0)
        jobs = [
            {
                "name": "send",
                "data": _data(i, f"ws-{i % 4}"),
                "opts": {"delay": 2000 + int(i * spread_s * 1000 / messages)},
            }
            for i in range(messages)
        ]
        await _add_bulk(queue, jobs)
        with suppress(WaitTimeout):  # the percentiles of those processed
            await wait_until_async(
                lambda: len(late) >= messages, timeout_s=spread_s + 60, interval_s=0.1
            )
        await worker.close()
        await queue.close()

    asyncio.run(run())
    return {
        "p50_ms": percentile(late, 0.5) * 1000,
        "p99_ms": percentile(late, 0.99) * 1000,
        "max_ms": max(late) * 1000,
    }


def fairness(
    redis_url: str, *, backlog: int, rate: int = 100, small: int = 10, cap_s: float = 30.0
) -> Figures:
    """One queue, as the seeds ran it: A's backlog, then B's few, at `rate`/s.

    B's jobs wait behind A's whole backlog; when they are not served within `cap_s`, the wait is
    given as what their place in the queue implies at the limit (ahead / rate), a lower bound.
    """
    from bullmq import Queue

    waits: dict[str, float] = {}

    async def run() -> float:
        queue = Queue("sms", _connection(redis_url))
        await _add_bulk(queue, [{"name": "send", "data": _data(i, "ws-a")} for i in range(backlog)])

        async def process(job: Any, token: str) -> str:
            if job.data["workspaceId"] == "ws-b":
                waits[job.id] = time.time() - job.timestamp / 1000
            return "ok"

        worker = _limited_worker(redis_url, process, rate)
        await asyncio.sleep(1.0)
        await _add_bulk(queue, [{"name": "send", "data": _data(i, "ws-b")} for i in range(small)])
        ahead = (await queue.getJobCounts("wait"))["wait"] - small
        with suppress(WaitTimeout):  # B not all served: the lower bound below
            await wait_until_async(lambda: len(waits) >= small, timeout_s=cap_s, interval_s=0.1)
        await worker.close()
        await queue.close()
        return float(ahead)

    ahead = asyncio.run(run())
    if len(waits) == small:
        return {
            "b_wait_p50_s": percentile(list(waits.values()), 0.5),
            "b_wait_max_s": max(waits.values()),
        }
    implied = ahead / rate + small / rate
    return {"b_wait_p50_s": implied, "b_wait_max_s": implied, "not_served_within_s": cap_s}


def memory_per_message(redis_url: str, *, messages: int, channel: str = "sms") -> Figures:
    """used_memory per delayed job (due in an hour), added with addBulk: the job data ours is
    given (`common.campaign_job`), in a queue named after the channel."""
    from bullmq import Queue

    client = redis_lib.Redis.from_url(redis_url)

    async def run() -> tuple[int, int]:
        queue = Queue(channel, _connection(redis_url))
        warm = {**campaign_job(channel, 0), "workspaceId": "workspace-warm"}
        await queue.addBulk([{"name": "send", "data": warm, "opts": {"delay": 3_600_000}}])
        before = int(client.info("memory")["used_memory"])
        for start in range(0, messages, 5000):
            await queue.addBulk(
                [
                    {"name": "send", "data": campaign_job(channel, i), "opts": {"delay": 3_600_000}}
                    for i in range(start, min(start + 5000, messages))
                ]
            )
        after = int(client.info("memory")["used_memory"])
        await queue.close()
        return before, after

    before, after = asyncio.run(run())
    client.close()
    return {"bytes_per_message": (after - before) / messages}
