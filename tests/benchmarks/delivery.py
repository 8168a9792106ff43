"""Delivery figures: a 2,000-SMS broadcast at 50/s (clean, and with a worker killed twice), and
the lateness of delayed jobs.

Run:  python tests/benchmarks/delivery.py [--messages 2000] [--rate 50] [--skip-kill]

Starts its own redis-server, API server (in process), webhook receiver and `queue-services
worker` processes, all on 127.0.0.1, and reads every figure from the receiver's clock.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[2]))

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from tests.harness import ADMIN_HEADERS, ADMIN_KEY, WaitTimeout, running_server, wait_until
from tests.receiver import max_per_window, running_receiver
from tests.workers import running_worker, start_worker, stop_worker, worker_env


def broadcast(messages: int, rate: int, kills: int) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        EmbeddedRedis(Path(folder)) as redis,
        running_receiver() as receiver,
        running_server(Settings(redis_url=redis.url, admin_key=ADMIN_KEY, api_rate_limit=0)) as api,
        httpx.Client(base_url=api, timeout=60, headers=ADMIN_HEADERS) as http,
    ):
        half = messages // 2
        items = [
            {"phoneNumber": f"+1415555{i:04d}", "message": f"Broadcast {i}",
             "workspaceId": "ws-a" if i < half else "ws-b", "contactId": f"c-{i}"}
            for i in range(messages)
        ]  # fmt: skip
        answer = http.post("/api/schedule-sms/bulk", json={"messages": items}).json()
        ids = {result["jobId"] for result in answer["results"]}
        env = worker_env(
            redis.url,
            sms_provider="webhook",
            email_provider="outbox",
            sms_api_url=receiver.url,
            sms_rate_limit=rate,
            lease_s=5,
        )
        started = time.time()
        for _ in range(kills):
            worker = start_worker(env, processes=2)
            time.sleep(max(messages / rate / (kills + 2), 1.0))
            stop_worker(worker, kill=True)
        # On a timeout, the line below says how many were lost.
        with running_worker(env, processes=2), suppress(WaitTimeout):
            wait_until(
                lambda: {r.headers["idempotency-key"] for r in receiver.sent()} >= ids,
                timeout_s=messages / rate * 3 + 60,
                interval_s=0.2,
            )
        sent = receiver.sent()
        delivered = Counter(r.headers["idempotency-key"] for r in sent)
        times = [r.at for r in sent]
        total = max(times) - min(times)
        label = f"{messages} SMS, 2 workspaces, {rate}/s, 2 worker processes"
        label += f", worker killed (SIGKILL) {kills}x" if kills else ""
        print(
            f"{label}: delivered {len(set(delivered) & ids)}/{len(ids)}, "
            f"lost {len(ids - set(delivered))}, "
            f"duplicates {sum(delivered.values()) - len(delivered)}; "
            f"first to last send {total:.1f} s (at best {(messages - rate) / rate:.1f} s: "
            f"{(messages - rate) / rate / max(total, 1e-9) * 100:.1f}% of the limit used; "
            f"{time.time() - started:.1f} s from the first worker start); "
            f"most sends in any 1 s window: {max_per_window(times)}"
        )


def lateness(messages: int) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        EmbeddedRedis(Path(folder)) as redis,
        running_receiver() as receiver,
        running_server(Settings(redis_url=redis.url, admin_key=ADMIN_KEY, api_rate_limit=0)) as api,
        httpx.Client(base_url=api, timeout=60, headers=ADMIN_HEADERS) as http,
    ):
        env = worker_env(
            redis.url,
            sms_provider="webhook",
            email_provider="outbox",
            sms_api_url=receiver.url,
            sms_rate_limit=0,
        )
        with running_worker(env, processes=1):
            spread_ms = 10_000
            items = [
                {"phoneNumber": "+14155550100", "message": f"Reminder {i}",
                 "workspaceId": f"ws-{i % 4}", "delay": 2000 + i * spread_ms // messages}
                for i in range(messages)
            ]  # fmt: skip
            answer = http.post("/api/schedule-sms/bulk", json={"messages": items}).json()
            due = {
                r["jobId"]: time.mktime(time.strptime(r["scheduledFor"][:19], "%Y-%m-%dT%H:%M:%S"))
                - time.timezone
                + int(r["scheduledFor"][20:23]) / 1000
                for r in answer["results"]
            }
            receiver.wait_for(messages, timeout_s=spread_ms / 1000 + 30)
        late_ms = sorted((r.at - due[r.headers["idempotency-key"]]) * 1000 for r in receiver.sent())
        p = lambda q: late_ms[min(int(len(late_ms) * q), len(late_ms) - 1)]  # noqa: E731
        print(
            f"lateness of {messages} delayed SMS due over {spread_ms / 1000:.0f} s "
            f"(provider arrival - due time): p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, "
            f"max {late_ms[-1]:.1f} ms, min {late_ms[0]:.1f} ms, "
            f"mean {statistics.mean(late_ms):.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--lateness-messages", type=int, default=2000)
    parser.add_argument("--skip-kill", action="store_true")
    args = parser.parse_args()
    broadcast(args.messages, args.rate, kills=0)
    if not args.skip_kill:
        broadcast(args.messages, args.rate, kills=2)
    lateness(args.lateness_messages)


if __name__ == "__main__":
    main()
