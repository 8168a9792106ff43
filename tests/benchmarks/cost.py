"""Where a message's CPU goes: Redis's and the workers', per dispatched or cancelled message.

    python tests/benchmarks/cost.py dispatch [--messages 30000]
    python tests/benchmarks/cost.py cancel [--messages 100000]

``dispatch`` runs `ours.dispatch_throughput` (due messages, no limit, the null provider, two
worker processes) on a fresh embedded Redis and reports, besides messages/s, Redis's CPU (``INFO
cpu``) and the worker processes' CPU (``/proc``) over the run, divided by the messages, and the
Redis commands that cost most (``INFO commandstats``, inner commands of scripts included).
``cancel`` stores a campaign of N scheduled SMS and times `JobStore.cancel_campaign` on a quiet
Redis, with its longest script call (``SLOWLOG``). Figures for finding what to cut, not for
comparing with a peer: `run.py` does that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import redis as redis_lib
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).parents[2]))

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.store.ids import new_job_id
from queue_services_server.store.jobs import JobStore
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.records import JobRecord
from tests.benchmarks import ours


def workers_cpu_s() -> tuple[float, float]:
    """CPU seconds (user, system) used so far by every Dramatiq process on this machine."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if b"dramatiq" in command:
            user += int(fields[11]) / tick
            system += int(fields[12]) / tick
    return user, system


def redis_cpu_s(client: redis_lib.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def dispatch(redis_url: str, messages: int) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    measured: dict[str, Any] = {}
    started_workers = ours.running_workers

    @contextlib.contextmanager
    def measuring(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with started_workers(*args, **kwargs) as workers:
            client.config_resetstat()
            redis0, (user0, sys0) = redis_cpu_s(client), workers_cpu_s()
            yield workers
            user1, sys1 = workers_cpu_s()
            measured["redis_s"] = redis_cpu_s(client) - redis0
            measured["workers_s"] = user1 - user0 + sys1 - sys0
            measured["workers_sys_s"] = sys1 - sys0
            measured["commands"] = client.info("commandstats")

    ours.running_workers = measuring
    try:
        figures = ours.dispatch_throughput(redis_url, messages=messages)
    finally:
        ours.running_workers = started_workers
    per = 1e6 / messages
    print(f"{figures['messages_per_s']:,.0f} messages/s")
    print(f"Redis CPU {measured['redis_s'] * per:.0f} us per message")
    print(
        f"workers' CPU {measured['workers_s'] * per:.0f} us per message "
        f"({measured['workers_sys_s'] * per:.0f} of it in the kernel)"
    )
    costly = sorted(measured["commands"].items(), key=lambda item: -item[1]["usec"])[:10]
    for name, stats in costly:
        print(
            f"  {name.removeprefix('cmdstat_'):16s} {stats['calls']:9,d} calls "
            f"{stats['usec'] / messages:7.1f} us per message {stats['usec_per_call']:8.1f} per call"
        )


async def cancel(redis_url: str, messages: int) -> None:
    client = aioredis.Redis.from_url(redis_url)
    sync = redis_lib.Redis.from_url(redis_url)
    store = JobStore(client, KeySpace())
    now = int(time.time() * 1000)
    body = orjson.dumps(
        {
            "payload": {"phoneNumber": "+14155550123", "message": "Spring sale: 20% off today"},
            "metadata": {"campaignId": "spring", "source": "campaign", "userId": "user-123"},
        }
    ).decode()
    records = [
        JobRecord(
            id=new_job_id(now),
            channel="sms",
            workspace_id="ws-a",
            priority="normal",
            status="SCHEDULED",
            created_at=now,
            updated_at=now,
            scheduled_for=now + 3_600_000,
            digest="0" * 16,
            body=body,
        )
        for _ in range(messages)
    ]
    for start in range(0, messages, 5000):
        await store.create(records[start : start + 5000])
    sync.config_set("slowlog-log-slower-than", 1000)
    sync.config_set("slowlog-max-len", 100_000)
    sync.slowlog_reset()
    started = time.perf_counter()
    counts = await store.cancel_campaign("ws-a", "spring", now)
    elapsed = time.perf_counter() - started
    slow = sync.slowlog_get(100_000)
    longest = max((entry["duration"] for entry in slow), default=0) / 1000
    over = sum(entry["duration"] > 20_000 for entry in slow)
    print(f"{counts}")
    print(f"{elapsed:.2f} s, {elapsed / messages * 1e6:.1f} us per job")
    print(
        f"script calls of 1 ms or more: {len(slow)}, longest {longest:.1f} ms, over 20 ms: {over}"
    )
    durations = sorted((entry["duration"] / 1000 for entry in slow), reverse=True)
    if durations:
        median = durations[len(durations) // 2]
        print(f"  slowest five, ms: {[round(d, 1) for d in durations[:5]]}; median {median:.1f}")
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["dispatch", "cancel"])
    parser.add_argument("--messages", type=int)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        server = EmbeddedRedis(Path(data))
        server.start()
        try:
            if args.what == "dispatch":
                dispatch(server.url, args.messages or 30_000)
            else:
                asyncio.run(cancel(server.url, args.messages or 100_000))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
