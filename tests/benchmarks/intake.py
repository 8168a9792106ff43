"""Intake figures: a 5,000-message bulk request, and single requests from 16 concurrent clients.

Run:  python tests/benchmarks/intake.py [--seconds 10] [--clients 16]

Starts its own throwaway redis-server and a `queue-services serve` process on 127.0.0.1, then
measures over real HTTP: the bulk request with plain httpx (median of 3), and single
`schedule_sms` calls through the SDK's AsyncQueueService (requests/s, p50, p99). Figures are
context for this machine; issue 7's suite compares them with BullMQ in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from queue_services import AsyncQueueService
from queue_services_server.dev import EmbeddedRedis, free_port
from tests.harness import WaitTimeout, wait_until

KEY = "bench-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def start_server(redis_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "QUEUE_SERVICES_LOG_LEVEL": "warning",
        "QUEUE_SERVICES_ADMIN_KEY": KEY,
        # the benchmark measures the server, not the per-key request limit
        "API_RATE_LIMIT": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "queue_services_server.cli", "serve", "--port", str(port)],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/ready").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, timeout_s=20, interval_s=0.1, message="the server did not start")
    except WaitTimeout:
        process.kill()
        raise
    return process, url


def bench_bulk(url: str, repeats: int = 3) -> list[float]:
    messages = [
        {
            "phoneNumber": f"+1415555{i:04d}",
            "message": "Doors open at 9",
            "workspaceId": f"ws-{i % 5}",
        }
        for i in range(5000)
    ]
    timings = []
    with httpx.Client(base_url=url, timeout=60, headers=AUTH) as client:
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.post("/api/schedule-sms/bulk", json={"messages": messages})
            timings.append(time.perf_counter() - started)
            if response.status_code != 200 or response.json()["accepted"] != 5000:
                raise RuntimeError(
                    f"bulk request failed: {response.status_code} {response.text[:200]}"
                )
    return timings


async def bench_single(url: str, clients: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one_client(index: int) -> None:
        async with AsyncQueueService(base_url=url, api_key=KEY, max_retries=0) as queue:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                await queue.schedule_sms(
                    "+14155550123", "Your code is 123456", workspace_id=f"ws-{index}"
                )
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one_client(index) for index in range(clients)))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as redis:
        server, url = start_server(redis.url)
        try:
            bulk = bench_bulk(url)
            print(
                f"bulk 5,000 SMS in one request: median {statistics.median(bulk) * 1000:.0f} ms "
                f"({5000 / statistics.median(bulk):,.0f} messages/s; runs: "
                + ", ".join(f"{t * 1000:.0f}" for t in bulk)
                + " ms)"
            )
            latencies = asyncio.run(bench_single(url, args.clients, args.seconds))
            latencies.sort()
            rate = len(latencies) / args.seconds
            p50 = latencies[len(latencies) // 2] * 1000
            p99 = latencies[int(len(latencies) * 0.99)] * 1000
            print(
                f"single schedule_sms, {args.clients} concurrent SDK clients, "
                f"{args.seconds:.0f} s: {rate:,.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            )
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
