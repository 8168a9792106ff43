"""How close a slow provider gets to the rate limit: the room in flight and the sends at once that
follow the provider's latency (the default) side by side with a fixed room of a quarter second of
the rate and 5 sends at once (what the default was before; `DISPATCH_MAX_IN_FLIGHT=12`).

    python tests/benchmarks/slow_provider.py [--rate 50] [--seconds 10] [--latencies 0.05 0.1 0.3 1]

One worker (8 threads, the default) sends `rate * seconds` SMS at `--rate`/s to an endpoint that
answers each after the given latency (`tests/faulty_provider.py`, on 127.0.0.1); the figure is
the rate the endpoint saw from its first request to its last, and that rate over the limit.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import suppress
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[2]))

from queue_services_server.dev import EmbeddedRedis
from tests import faulty_provider
from tests.api_process import running_api
from tests.harness import ADMIN_HEADERS, WaitTimeout, wait_until
from tests.workers import running_worker, worker_env


def achieved_rate(rate: int, messages: int, latency_s: float, fixed_room: bool) -> float:
    """Messages/s the provider saw."""
    answer = faulty_provider.Answer(200, {"messageId": "m"}, delay_s=latency_s)
    with (
        tempfile.TemporaryDirectory() as folder,
        EmbeddedRedis(Path(folder)) as redis,
        faulty_provider.running_faulty_provider(lambda *_: answer) as provider,
        running_api(redis.url) as api,
    ):
        items = [
            {"phoneNumber": f"+1415555{n:04d}", "message": "x", "workspaceId": f"ws-{n % 3}"}
            for n in range(messages)
        ]
        httpx.post(
            f"{api.url}/api/schedule-sms/bulk",
            json={"messages": items},
            headers=ADMIN_HEADERS,
            timeout=60,
        ).raise_for_status()
        settings: dict[str, object] = {"sms_rate_limit": rate}
        if fixed_room:
            settings["dispatch_max_in_flight"] = max(rate // 4, 5)
        env = worker_env(
            redis.url,
            sms_provider="webhook",
            email_provider="null",
            sms_api_url=provider.url,
            **settings,
        )
        # On a timeout, the rate of those that came.
        with running_worker(env, threads=8), suppress(WaitTimeout):
            wait_until(
                lambda: len(provider.requests) >= messages,
                timeout_s=messages / rate * 10 + 60,
                interval_s=0.1,
            )
        times = sorted(request.at for request in provider.requests)
    return (len(times) - 1) / (times[-1] - times[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.05, 0.1, 0.3, 1.0])
    args = parser.parse_args()
    messages = int(args.rate * args.seconds)
    print(f"{messages} SMS at a limit of {args.rate}/s, one worker\n")
    print("| provider latency | room follows latency (default) | fixed room, 5 at once | ratio |")
    print("| ---: | ---: | ---: | ---: |")
    for latency in args.latencies:
        adaptive = achieved_rate(args.rate, messages, latency, fixed_room=False)
        fixed = achieved_rate(args.rate, messages, latency, fixed_room=True)
        print(
            f"| {latency * 1000:.0f} ms | {adaptive:.1f}/s ({adaptive / args.rate:.0%}) "
            f"| {fixed:.1f}/s ({fixed / args.rate:.0%}) | {adaptive / fixed:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
