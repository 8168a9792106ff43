"""Intake over HTTP, side by side with the service the seeds describe (Express + BullMQ on Node).

    python tests/benchmarks/http_intake.py [--seconds 10] [--connections 16] [--repeats 2]
                                           [--workers N] [--only ours|peer]

The same load generator drives both: `wrk` (a C program: `apt-get install wrk`), one thread,
`--connections` connections, the seeds' SMS body (`POST /api/schedule-sms`). Each server gets a
fresh redis-server of its own (append-only file on, as `queue-services dev` runs it), a one-second
warm-up, then `--seconds` of load; sides alternate for `--repeats` rounds, so that a noisy moment
of this shared machine falls on both. Reported: requests/s, p50 and p99 from wrk's latency
distribution, non-2xx answers, and ours over the peer.

Then the bulk request of 5,000 SMS on both (median of 3, plain httpx). The peer answers it with
one `addBulk`; the in-process `addBulk` of BullMQ is `run.py`'s `intake-bulk` row.

Ours is `queue-services serve` as a user starts it, with the per-key request limit lifted
(`API_RATE_LIMIT=0`: the figure is the server's capacity, not the limit's), with its default of
one process per CPU unless `--workers N` says. The peer (`bullmq_node/service.mjs`) has no
authentication, idempotency or per-field validation, as the seeds' service had none; ours does all
three on every request.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[2]))

from queue_services_server.commands.serve import api_processes
from queue_services_server.dev import EmbeddedRedis, free_port
from queue_services_server.settings import Settings
from tests.api_process import running_api
from tests.benchmarks.run import NODE_DIR, ensure_node_packages
from tests.harness import ADMIN_KEY, WaitTimeout, wait_until

KEY = ADMIN_KEY

#: The body of the seeds' FAQ for `POST /api/schedule-sms`.
SMS_BODY = (
    '{"phoneNumber": "+1234567890", "message": "Your message content", '
    '"contactId": "contact-uuid", "workspaceId": "workspace-id", "delay": 0, '
    '"metadata": {"source": "campaign", "campaignId": "campaign-uuid"}}'
)

#: wrk's request script: every request the same POST, with the key ours needs (the peer ignores it).
WRK_SCRIPT = f"""
wrk.method = "POST"
wrk.body = [[{SMS_BODY}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {KEY}"
"""


@dataclass
class Load:
    """What wrk measured in one run."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, seconds: float, connections: int, script: Path) -> Load:
    """One wrk run against `url`'s /api/schedule-sms."""
    done = subprocess.run(
        [
            "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency",
            "-s", str(script), f"{url}/api/schedule-sms",
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return parse_wrk(done.stdout)


def parse_wrk(out: str) -> Load:
    """wrk's figures from its `--latency` report."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return Load(rate, p50, p99, int(bad.group(1)) if bad else 0)


def _wait_ready(url: str, path: str, process: subprocess.Popen[bytes]) -> None:
    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            return httpx.get(f"{url}{path}").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, timeout_s=30, interval_s=0.1, message=f"{url} did not start")
    except WaitTimeout:
        process.kill()
        raise


@contextmanager
def serving_ours(redis_url: str, workers: int | None) -> Iterator[str]:
    """`queue-services serve` on a free port of 127.0.0.1 (tests/api_process.py: the per-key
    limit lifted), with as many processes as it starts by default (one per CPU) unless
    `workers` says."""
    processes = workers if workers is not None else api_processes(Settings())
    with running_api(redis_url, api_workers=processes) as api:
        yield api.url


@contextmanager
def serving_peer(redis_url: str) -> Iterator[str]:
    """The Express + BullMQ service on a free port of 127.0.0.1."""
    port = free_port()
    process = subprocess.Popen(["node", "service.mjs", str(port), redis_url], cwd=NODE_DIR)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, "/health", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def bulk_seconds(url: str, repeats: int = 3) -> float:
    """Median seconds of one request scheduling 5,000 SMS."""
    messages = [
        {"phoneNumber": f"+1415555{i:04d}", "message": "Doors open at 9",
         "workspaceId": f"ws-{i % 5}"}
        for i in range(5000)
    ]  # fmt: skip
    timings = []
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {KEY}"}) as http:
        for _ in range(repeats):
            started = time.perf_counter()
            answer = http.post("/api/schedule-sms/bulk", json={"messages": messages})
            timings.append(time.perf_counter() - started)
            if answer.status_code != 200 or len(answer.json()["results"]) != 5000:
                raise RuntimeError(f"bulk failed: {answer.status_code} {answer.text[:200]}")
    return statistics.median(timings)


def measure(side: str, args: argparse.Namespace, script: Path) -> tuple[Load, float]:
    """One round of one side on a fresh Redis: wrk's figures and the bulk request's seconds."""
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as redis:
        ours = side == "ours"
        with serving_ours(redis.url, args.workers) if ours else serving_peer(redis.url) as url:
            run_wrk(url, 1, args.connections, script)  # warm-up
            load = run_wrk(url, args.seconds, args.connections, script)
            return load, bulk_seconds(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--only", choices=("ours", "peer"), default=None)
    args = parser.parse_args()
    for tool in ("wrk", "node", "npm"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on the PATH (wrk: apt-get install wrk; node and npm: nodejs)")
    ensure_node_packages()
    sides = [args.only] if args.only else ["ours", "peer"]
    results: dict[str, list[tuple[Load, float]]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(WRK_SCRIPT)
        for round_ in range(args.repeats):
            for side in sides if round_ % 2 == 0 else reversed(sides):
                load, bulk = measure(side, args, script)
                results[side].append((load, bulk))
                print(
                    f"{side:5} round {round_ + 1}: {load.requests_per_s:8,.0f} requests/s, "
                    f"p50 {load.p50_ms:5.1f} ms, p99 {load.p99_ms:5.1f} ms, "
                    f"non-2xx {load.non_2xx}; bulk 5,000 in {bulk * 1000:.0f} ms",
                    flush=True,
                )
    print(f"\nwrk -t1 -c{args.connections} -d{args.seconds:g}s, {args.repeats} rounds (median):")
    medians = {}
    for side, runs in results.items():
        rate = statistics.median(load.requests_per_s for load, _ in runs)
        p99 = statistics.median(load.p99_ms for load, _ in runs)
        p50 = statistics.median(load.p50_ms for load, _ in runs)
        bulk = statistics.median(bulk for _, bulk in runs)
        medians[side] = (rate, bulk)
        print(f"  {side:5} {rate:8,.0f} requests/s  p50 {p50:5.1f} ms  p99 {p99:5.1f} ms  "
              f"bulk 5,000: {bulk * 1000:.0f} ms")  # fmt: skip
    if len(medians) == 2:
        (ours_rate, ours_bulk), (peer_rate, peer_bulk) = medians["ours"], medians["peer"]
        print(f"  ours / peer: requests/s {ours_rate / peer_rate:.2f}x, "
              f"bulk speed {peer_bulk / ours_bulk:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
