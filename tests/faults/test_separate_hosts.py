"""Workers on separate hosts (Linux network namespaces on a private bridge, Redis on a host of its
own) share one rate limit exactly, and deliver everything."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.api_process import running_api
from tests.benchmarks import hosts
from tests.harness import ADMIN_HEADERS
from tests.receiver import max_per_window, running_receiver
from tests.workers import delivery_env, start_worker, stop_worker

WHY_NOT = hosts.namespaces_available()


@pytest.mark.skipif(
    WHY_NOT is not None, reason=f"separate hosts need network namespaces: {WHY_NOT}"
)
def test_four_worker_hosts_share_one_rate_limit_exactly(tmp_path: Path) -> None:
    # Given Redis on one host and four worker hosts, and 400 SMS to send at 100/s
    with hosts.network() as net:
        redis_host = net.add_host("redis")
        worker_hosts = [net.add_host(f"w{n}") for n in range(4)]
        with (
            hosts.redis_on(redis_host, tmp_path / "redis") as redis_url,
            running_receiver(host=net.gateway) as receiver,
            running_api(redis_url) as api,
        ):
            messages = [
                {"phoneNumber": f"+1415555{n:04d}", "message": f"hello {n}",
                 "workspaceId": f"ws-{n % 4}", "contactId": f"c-{n}"}
                for n in range(400)
            ]  # fmt: skip
            with httpx.Client(base_url=api.url, headers=ADMIN_HEADERS, timeout=30) as http:
                answer = http.post("/api/schedule-sms/bulk", json={"messages": messages})
            ids = {result["jobId"] for result in answer.json()["results"]}
            # A margin of 100 ms (the default is 20): this test is about four hosts sharing one
            # limit (four limits of their own would send 400 in a second). Four busy workers on
            # two cores delay the in-process receiver's clock by up to ~40 ms at times, bunching
            # arrivals that left on their slots; the default margin is measured by
            # tests/benchmarks/slow_provider.py on a quieter receiver.
            env = delivery_env(
                redis_url, receiver.url, sms_rate_limit=100, rate_limit_margin_ms=100
            )
            workers = []
            try:
                # When a worker runs on each of the four hosts
                for n, host in enumerate(worker_hosts, start=1):
                    workers.append(start_worker(env, prefix=host.command(), heartbeats=n))
                sent = receiver.wait_for(400, timeout_s=30)
            finally:
                for worker in workers:
                    stop_worker(worker)

    # Then every message went out once, and never more than 100 in any one-second window
    delivered = Counter(r.headers["idempotency-key"] for r in sent)
    assert set(delivered) == ids
    assert max(delivered.values()) == 1
    assert max_per_window([r.at for r in sent], 1.0) <= 100
