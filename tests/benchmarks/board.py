"""Board page times with many jobs stored (1,000,000 by default).

Run:  python tests/benchmarks/board.py [--jobs 1000000]

Fills a throwaway redis-server through the real store (`JobStore.create`, 500 jobs per script
call), a tenth of them then finished through the real `finish` path so every status list is
populated, and times board pages over real HTTP (median and max of 20 requests each).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).parents[2]))

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from queue_services_server.store.delivery import DeliveryStore, JobOutcome, Outcome
from queue_services_server.store.jobs import JobStore
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.records import JobRecord
from tests.harness import running_server

KEY = "bench-key"


async def fill(url: str, count: int) -> None:
    client = aioredis.Redis.from_url(url)
    keys = KeySpace()
    jobs, delivery = JobStore(client, keys), DeliveryStore(client, keys)
    now = time.time_ns() // 1_000_000
    body = orjson.dumps(
        {"payload": {"phoneNumber": "+14155550123", "message": "Your appointment is at 9:30"},
         "metadata": {"campaignId": "spring"}}
    ).decode()  # fmt: skip
    chunk = 5000
    for start in range(0, count, chunk):
        records = [
            JobRecord(
                id=uuid.uuid4().hex[:26], channel="sms", workspace_id=f"ws-{i % 500}",
                contact_id=f"c-{i}", priority="normal", status="SCHEDULED", created_at=now,
                updated_at=now, digest="d", body=body,
                # a tenth due now, to be taken and recorded below
                scheduled_for=now - 1 if i < count // 10 else now + 86_400_000 + i,
            )
            for i in range(start, min(start + chunk, count))
        ]  # fmt: skip
        await jobs.create(records)
    # A tenth finished: taken and recorded as the workers would.
    while True:
        claim = await delivery.claim(
            "sms", batch_id=uuid.uuid4().hex[:12], lookahead_ms=0, batch_size=1000,
            max_in_flight=0, lease_ms=600_000, tier_window_ms=1000, max_lease_expiries=5,
        )  # fmt: skip
        if not claim.jobs:
            break
        outcomes = [
            JobOutcome(job.id, Outcome.SENT if n % 10 else Outcome.FAILED, "p")
            for n, job in enumerate(claim.jobs)
        ]
        await delivery.finish("sms", claim.batch_id, outcomes, last=True, batch_size=len(outcomes))
    await client.aclose()


def timed(client: httpx.Client, path: str, params: dict[str, str] | None = None) -> list[float]:
    times = []
    for _ in range(20):
        started = time.perf_counter()
        answer = client.get(path, params=params)
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: {answer.status_code}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as redis:
        started = time.perf_counter()
        asyncio.run(fill(redis.url, args.jobs))
        print(f"stored {args.jobs:,} jobs in {time.perf_counter() - started:.0f} s")
        with (
            running_server(Settings(redis_url=redis.url, admin_key=KEY, api_rate_limit=0)) as url,
            httpx.Client(base_url=url, timeout=60) as client,
        ):
            client.post("/admin/queues/login", data={"key": KEY})
            pages = [
                ("overview", "/admin/queues/", None),
                ("scheduled list, first page", "/admin/queues/sms/scheduled", None),
                (f"scheduled list, page at offset {args.jobs // 2:,}",
                 "/admin/queues/sms/scheduled", {"offset": str(args.jobs // 2)}),
                ("completed list", "/admin/queues/sms/completed", None),
                ("failed list filtered by workspace", "/admin/queues/sms/failed",
                 {"workspace": "ws-7"}),
                ("GET /api/metrics", "/api/metrics", None),
            ]  # fmt: skip
            for label, path, params in pages:
                headers = {"Authorization": f"Bearer {KEY}"}
                client.headers.update(headers)
                times = timed(client, path, params)
                print(
                    f"{label}: median {statistics.median(times):.1f} ms, "
                    f"max {max(times):.1f} ms (20 requests)"
                )


if __name__ == "__main__":
    main()
