"""Scale-out on one Redis: dispatch throughput with 1, 2, 4 and 8 worker processes (no rate limit,
null provider), and the shared rate limit held across 4 worker processes.

    python tests/benchmarks/scale_out.py [--messages 20000] [--repeats 3]

Every run gets a fresh redis-server on 127.0.0.1. The processes are separate `queue-services
worker` processes on this host (not separate hosts: no network namespaces here), so the curve
shows where this machine's 2 cores, shared with Redis, become the bound.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

from queue_services_server.dev import EmbeddedRedis
from tests.benchmarks import ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate-messages", type=int, default=1_000)
    args = parser.parse_args()
    print("| worker processes | messages/s (median) | runs |")
    print("| ---: | ---: | --- |")
    for processes in (1, 2, 4, 8):
        runs = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as redis:
                figures = ours.dispatch_throughput(
                    redis.url, messages=args.messages, processes=processes
                )
                runs.append(figures["messages_per_s"])
        shown = ", ".join(f"{run:,.0f}" for run in runs)
        print(f"| {processes} | {statistics.median(runs):,.0f} | {shown} |", flush=True)
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as redis:
        limited = ours.rate_limit(redis.url, messages=args.rate_messages, rate=50, processes=4)
    print(
        f"\n{args.rate_messages:,} SMS at 50/s over 4 worker processes: most in any 1 s window "
        f"{limited['max_per_1s_window']:.0f}, first to last {limited['first_to_last_s']:.1f} s "
        f"(ideal {args.rate_messages / 50:.0f} s)"
    )


if __name__ == "__main__":
    main()
