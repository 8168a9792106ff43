"""Scale-out on one Redis: dispatch throughput with 1, 2, 4 and 8 workers (no rate limit, null
provider), and the shared rate limit held across 4 of them; workers as processes on this host,
and (as root, with iproute2) as separate hosts in network namespaces.

    python tests/benchmarks/scale_out.py [--messages N] [--repeats N] [--only processes|hosts|slow]

"processes": 1-8 worker processes of one `queue-services worker` on this host, Redis on
127.0.0.1. "hosts": Redis in a network namespace of its own and each worker (one process) in
another, joined by a private bridge (10.231.N.0/24, veth pairs): every Redis command crosses a
network stack, as between machines, though the CPUs are still this machine's two cores. The
hosts are measured twice: with the null provider (the engine alone: CPU-bound here), and with a
provider answering in 100 ms to workers of 2 threads of 5 sends in flight (the workers are the
bound: each can do 100 messages/s). Every run gets a fresh redis-server (AOF on, noeviction).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

from queue_services_server.dev import EmbeddedRedis
from tests import faulty_provider
from tests.benchmarks import hosts as netns
from tests.benchmarks import ours

COUNTS = (1, 2, 4, 8)

#: Seconds the slow provider of the third curve takes to answer.
PROVIDER_LATENCY_S = 0.1


@contextmanager
def local_redis() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as redis:
        yield redis.url


def curve(label: str, run_once: Callable[[int], float], repeats: int) -> None:
    print(f"\n| {label} | messages/s (median) | runs |")
    print("| ---: | ---: | --- |")
    for count in COUNTS:
        runs = [run_once(count) for _ in range(repeats)]
        shown = ", ".join(f"{run:,.0f}" for run in runs)
        print(f"| {count} | {statistics.median(runs):,.0f} | {shown} |", flush=True)


def report_limit(where: str, figures: ours.Figures, messages: int) -> None:
    print(
        f"\n{messages:,} SMS at 50/s over 4 workers ({where}): most in any 1 s window "
        f"{figures['max_per_1s_window']:.0f}, first to last {figures['first_to_last_s']:.1f} s "
        f"(ideal {messages / 50:.0f} s)",
        flush=True,
    )


def on_one_host(args: argparse.Namespace) -> None:
    def run_once(processes: int) -> float:
        with local_redis() as url:
            figures = ours.dispatch_throughput(url, messages=args.messages, processes=processes)
        return figures["messages_per_s"]

    curve("worker processes, one host", run_once, args.repeats)
    with local_redis() as url:
        limited = ours.rate_limit(url, messages=args.rate_messages, rate=50, processes=4)
    report_limit("processes on one host", limited, args.rate_messages)


def on_separate_hosts(args: argparse.Namespace) -> None:
    why_not = netns.namespaces_available()
    if why_not:
        print(f"\nseparate hosts skipped: {why_not}")
        return

    def run_once(count: int) -> float:
        with netns.network() as net, tempfile.TemporaryDirectory() as folder:
            redis_host = net.add_host("redis")
            workers = [net.add_host(f"w{n}") for n in range(count)]
            with netns.redis_on(redis_host, Path(folder)) as url:
                figures = ours.dispatch_throughput(
                    url, messages=args.messages, processes=1, hosts=workers
                )
        return figures["messages_per_s"]

    curve("worker hosts (1 process each)", run_once, args.repeats)

    with netns.network() as net, tempfile.TemporaryDirectory() as folder:
        redis_host = net.add_host("redis")
        workers = [net.add_host(f"w{n}") for n in range(4)]
        with netns.redis_on(redis_host, Path(folder)) as url:
            limited = ours.rate_limit(
                url,
                messages=args.rate_messages,
                rate=50,
                processes=1,
                hosts=workers,
                receiver_host=net.gateway,
            )
    report_limit("separate hosts", limited, args.rate_messages)


def with_slow_provider(args: argparse.Namespace) -> None:
    """Where the workers, not the CPU, are the bound: a provider that answers in 100 ms, and
    workers of 2 threads sending 5 at a time each, so each one has 10 messages in flight."""
    why_not = netns.namespaces_available()
    if why_not:
        print(f"\nseparate hosts skipped: {why_not}")
        return

    def slow_provider_once(count: int) -> float:
        slow = faulty_provider.Answer(200, {"messageId": "m"}, delay_s=PROVIDER_LATENCY_S)
        with (
            netns.network() as net,
            tempfile.TemporaryDirectory() as folder,
            faulty_provider.running_faulty_provider(lambda *_: slow, host=net.gateway) as provider,
        ):
            redis_host = net.add_host("redis")
            workers = [net.add_host(f"w{n}") for n in range(count)]
            with netns.redis_on(redis_host, Path(folder)) as url:
                figures = ours.dispatch_throughput(
                    url,
                    messages=args.slow_messages,
                    processes=1,
                    threads=2,
                    hosts=workers,
                    settings={
                        "sms_provider": "webhook",
                        "sms_api_url": provider.url,
                        "send_concurrency": 5,
                    },
                )
        return figures["messages_per_s"]

    curve(
        f"worker hosts, provider answering in {PROVIDER_LATENCY_S * 1000:.0f} ms "
        "(ideal: 100/s each)",
        slow_provider_once,
        args.repeats,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate-messages", type=int, default=1_000)
    parser.add_argument("--slow-messages", type=int, default=2_000)
    parser.add_argument("--only", choices=("processes", "hosts", "slow"))
    args = parser.parse_args()
    if args.only in (None, "processes"):
        on_one_host(args)
    if args.only in (None, "hosts"):
        on_separate_hosts(args)
    if args.only in (None, "slow"):
        with_slow_provider(args)


if __name__ == "__main__":
    main()
