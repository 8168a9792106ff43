"""Benchmarks side by side: queue-services, BullMQ's Python port and BullMQ on Node, one run.

    pip install -e ".[dev,bench]"
    python tests/benchmarks/run.py [--quick] [--json FILE] [--repeats N] [--only NAME ...]

Every run of every scenario gets a fresh redis-server (the same binary for every side, on
127.0.0.1, a throwaway folder); each scenario runs `--repeats` times (3) per side and the table
shows medians and ratios. Ratios read "how many times better ours is" (above 1: ours is better),
whatever the figure's direction. The Node side runs when `node` and `npm` are on the PATH (its
packages are installed into tests/benchmarks/bullmq_node on first use); the Python side needs
the `bench` extra. `--quick` runs small sizes (under two minutes) to check the harness itself;
only a full run's figures mean anything.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).parents[2]))

from queue_services_server.dev import EmbeddedRedis, find_redis_server
from tests.benchmarks import campaigns, ours
from tests.benchmarks.common import Figures, NotAvailable

NODE_DIR = Path(__file__).parent / "bullmq_node"
SIDES = ("ours", "bullmq-py", "bullmq-node")


@dataclass(frozen=True)
class Row:
    """One figure of the table."""

    scenario: str
    figure: str
    label: str
    #: True if a larger value is better.
    higher_is_better: bool
    #: An absolute target on our figure, as text, and its check.
    target: str = ""
    meets: Callable[[float], bool] | None = None


@dataclass
class Scenario:
    name: str
    title: str
    #: side -> a function(redis_url) -> figures
    runs: dict[str, Callable[[str], Figures]]
    rows: list[Row]
    results: dict[str, list[Figures]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Sides whose build lacks what the scenario needs (`NotAvailable`).
    unavailable: set[str] = field(default_factory=set)


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def ensure_node_packages() -> None:
    """Install bullmq_node/'s npm packages (every one its package.json names) on first use."""
    wanted = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    if not all((NODE_DIR / "node_modules" / name).is_dir() for name in wanted):
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent"],
            cwd=NODE_DIR,
            check=True,
            timeout=600,
        )


def run_bench_mjs(scenario: str, redis_url: str, **params: Any) -> dict[str, Any]:
    """One scenario of bullmq_node/bench.mjs: the JSON it prints last."""
    argument = json.dumps({"scenario": scenario, "redisUrl": redis_url, **params})
    done = subprocess.run(
        ["node", "bench.mjs", argument],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"node {scenario} failed: {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def node_run(scenario: str, **params: Any) -> Callable[[str], Figures]:
    def run(redis_url: str) -> Figures:
        figures = run_bench_mjs(scenario, redis_url, **params)
        return {
            name: float(value) if value is not None else math.inf for name, value in figures.items()
        }

    return run


def python_peer() -> Any:
    try:
        from tests.benchmarks import bullmq_python
    except ImportError:
        return None
    try:
        import bullmq  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return None
    return bullmq_python


def scenarios(quick: bool) -> list[Scenario]:
    py = python_peer()
    node = node_available()
    seconds = 1.0 if quick else 10.0
    spread = 2.0 if quick else 10.0
    cap = 5.0 if quick else 30.0
    size = {
        "dispatch": 2_000 if quick else 20_000,
        "rate_messages": 150 if quick else 2_000,
        "lateness": 200 if quick else 2_000,
        "backlog": 1_000 if quick else 20_000,
        "memory": 5_000 if quick else 100_000,
        "memory_email": 500 if quick else 10_000,
        "campaign": 20_000 if quick else 1_000_000,
        "scale_small": 1_000 if quick else 10_000,
        "scale_large": 20_000 if quick else 1_000_000,
        "scale_due": 2_000 if quick else 10_000,
    }
    found: list[Scenario] = []

    def add(
        name: str,
        title: str,
        runs: dict[str, Callable[[str], Figures] | Literal[False] | None],
        rows: list[Row],
    ) -> None:
        found.append(Scenario(name, title, {side: run for side, run in runs.items() if run}, rows))

    add(
        "intake-single",
        "1a. Intake: single requests, 16 concurrent clients",
        {
            "ours": lambda url: ours.intake_single(url, seconds=seconds),
            "bullmq-py": py and (lambda url: py.intake_single(url, seconds=seconds)),
            "bullmq-node": node and node_run("intake_single", seconds=seconds, clients=16),
        },
        [
            Row(
                "intake-single",
                "requests_per_s",
                "requests/s",
                True,
                ">= 2,000/s",
                lambda v: v >= 2000,
            ),
            Row("intake-single", "p50_ms", "p50 latency, ms", False),
            Row("intake-single", "p99_ms", "p99 latency, ms", False, "< 20 ms", lambda v: v < 20),
        ],
    )
    add(
        "intake-bulk",
        "1b. Intake: one bulk request of 5,000 (addBulk)",
        {
            "ours": lambda url: ours.intake_bulk(url, messages=5000),
            "bullmq-py": py and (lambda url: py.intake_bulk(url, messages=5000)),
            "bullmq-node": node and node_run("intake_bulk", messages=5000),
        },
        [Row("intake-bulk", "messages_per_s", "messages/s", True, ">= 1.0x addBulk")],
    )
    n = size["dispatch"]
    add(
        "dispatch",
        f"2. Dispatch throughput: {n:,} due, no limit, no-op provider",
        {
            "ours": lambda url: ours.dispatch_throughput(url, messages=n),
            "bullmq-py": py
            and (lambda url: py.dispatch_throughput(url, messages=n, concurrency=50)),
            "bullmq-node": node and node_run("dispatch_throughput", messages=n, concurrency=100),
        },
        [
            Row("dispatch", "messages_per_s", "messages/s", True, ">= 1.5x Py, >= 1.0x Node"),
            Row("dispatch", "worker_idle_rss_mb", "7. worker RSS idle, MB", False),
            Row("dispatch", "worker_busy_rss_mb", "7. worker RSS busy, MB", False),
            Row("dispatch", "server_idle_rss_mb", "7. API server RSS idle, MB", False),
        ],
    )
    add(
        "dispatch-batch-200",
        f"2b. Dispatch throughput, SMS_BATCH_SIZE=200 (default 50): {n:,} due",
        {"ours": lambda url: ours.dispatch_throughput(url, messages=n, batch_size=200)},
        [Row("dispatch-batch-200", "messages_per_s", "messages/s", True)],
    )
    m = size["rate_messages"]
    add(
        "rate-limit",
        f"3. Rate limit: {m:,} at 50/s",
        {
            "ours": lambda url: ours.rate_limit(url, messages=m, rate=50),
            "bullmq-py": py and (lambda url: py.rate_limit(url, messages=m, rate=50)),
            "bullmq-node": node and node_run("rate_limit", messages=m, rate=50),
        },
        [
            Row(
                "rate-limit", "utilisation_pct", "utilisation, %", True, ">= 99%", lambda v: v >= 99
            ),
            Row(
                "rate-limit",
                "max_per_1s_window",
                "most in any 1 s window",
                False,
                "<= 50",
                lambda v: v <= 50,
            ),
            Row(
                "rate-limit",
                "first_to_last_s",
                "first to last, s",
                False,
                f"<= {m / 50 * 1.01:.1f} s",
                lambda v: v <= m / 50 * 1.01,
            ),
        ],
    )
    k = size["lateness"]
    add(
        "lateness",
        f"4. Lateness: {k:,} due over {spread:.0f} s",
        {
            "ours": lambda url: ours.lateness(url, messages=k, spread_s=spread),
            "bullmq-py": py and (lambda url: py.lateness(url, messages=k, spread_s=spread)),
            "bullmq-node": node and node_run("lateness", messages=k, spread_s=spread),
        },
        [
            Row("lateness", "p50_ms", "p50, ms", False),
            Row("lateness", "p99_ms", "p99, ms", False, "<= 20 ms", lambda v: v <= 20),
            Row("lateness", "max_ms", "max, ms", False),
        ],
    )
    backlog = size["backlog"]
    add(
        "fairness",
        f"5. Fairness: A has {backlog:,} due, then B schedules 10; 100/s",
        {
            "ours": lambda url: ours.fairness(url, backlog=backlog),
            "bullmq-py": py and (lambda url: py.fairness(url, backlog=backlog, cap_s=cap)),
            "bullmq-node": node
            and node_run("fairness", backlog=backlog, rate=100, small=10, cap_s=cap),
        },
        [
            Row("fairness", "b_wait_p50_s", "B's wait p50, s", False),
            Row("fairness", "b_wait_max_s", "B's wait max, s", False, "< 1 s", lambda v: v < 1),
        ],
    )
    campaign = size["campaign"]
    add(
        "campaign-fairness",
        f"5b. Scheduled campaign: A's {campaign:,} due at T, B's 10 at T + 1 s; 100/s",
        {"ours": lambda url: campaigns.scheduled_campaign(url, campaign=campaign)},
        [
            Row("campaign-fairness", "b_late_p50_s", "B's lateness p50, s", False),
            Row(
                "campaign-fairness",
                "b_late_max_s",
                "B's lateness max, s",
                False,
                "B's max wait < 1 s",
                lambda v: v < 1,
            ),
            Row(
                "campaign-fairness",
                "longest_command_ms",
                "longest Redis command, loaded to B sent, ms",
                False,
                "<= 20 ms",
                lambda v: v <= 20,
            ),
            Row("campaign-fairness", "commands_over_20ms", "Redis commands over 20 ms", False),
            Row("campaign-fairness", "load_per_s", "A loaded through the bulk API, msg/s", True),
        ],
    )
    mem = size["memory"]
    add(
        "memory",
        f"6a. Redis memory per scheduled SMS, the seeds' fields ({mem:,} scheduled)",
        {
            "ours": lambda url: ours.memory_per_message(url, messages=mem),
            "bullmq-py": py and (lambda url: py.memory_per_message(url, messages=mem)),
            "bullmq-node": node and node_run("memory_per_message", messages=mem),
        },
        [
            Row(
                "memory",
                "bytes_per_message",
                "bytes per message",
                False,
                "<= 700 B per scheduled SMS",
                lambda v: v <= 700,
            )
        ],
    )
    mem_email = size["memory_email"]
    add(
        "memory-email",
        f"6d. Redis memory per scheduled email, 20 KB html ({mem_email:,} scheduled)",
        {
            "ours": lambda url: ours.memory_per_message(url, messages=mem_email, channel="email"),
            "bullmq-py": py
            and (lambda url: py.memory_per_message(url, messages=mem_email, channel="email")),
            "bullmq-node": node
            and node_run("memory_per_message", messages=mem_email, channel="email"),
        },
        [Row("memory-email", "bytes_per_message", "bytes per message", False)],
    )
    small, large, due = size["scale_small"], size["scale_large"], size["scale_due"]
    add(
        "scale-small",
        f"6b. Dispatch of {due:,} due with {small:,} scheduled for later",
        {
            "ours": lambda url: ours.dispatch_with_scheduled(url, scheduled=small, due=due),
        },
        [Row("scale-small", "messages_per_s", "messages/s", True)],
    )
    add(
        "scale-large",
        f"6c. Dispatch of {due:,} due with {large:,} scheduled for later",
        {
            "ours": lambda url: ours.dispatch_with_scheduled(url, scheduled=large, due=due),
        },
        [Row("scale-large", "messages_per_s", "messages/s", True, "within 20% of 6b")],
    )
    add(
        "mass-cancel",
        f"8. Mass cancel: A's campaign of {campaign:,} queued, one POST /api/jobs/cancel",
        {"ours": lambda url: campaigns.mass_cancel(url, messages=campaign)},
        [
            Row("mass-cancel", "cancel_s", "the call, s", False),
            Row("mass-cancel", "cancelled", "answered: cancelled", True),
            Row("mass-cancel", "not_cancellable", "answered: notCancellable", False),
            Row("mass-cancel", "not_found", "answered: notFound", False),
            Row(
                "mass-cancel",
                "longest_command_ms",
                "longest Redis command during the call, ms",
                False,
                "longest command <= 20 ms",
                lambda v: v <= 20,
            ),
            Row("mass-cancel", "commands_over_20ms", "Redis commands over 20 ms", False),
            Row(
                "mass-cancel",
                "after_longest_command_ms",
                "longest Redis command after, until B's 10 sent, ms",
                False,
                "<= 20 ms",
                lambda v: v <= 20,
            ),
            Row("mass-cancel", "b_late_max_s", "B's 10, scheduled after: lateness max, s", False),
            Row(
                "mass-cancel",
                "campaign_sent_after",
                "campaign messages at the provider after the answer",
                False,
                "0 (beyond sends in flight)",
            ),
        ],
    )
    return found


def run_scenario(scenario: Scenario, repeats: int) -> None:
    for side, run in scenario.runs.items():
        runs: list[Figures] = []
        for attempt in range(repeats):
            with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as redis:
                started = time.monotonic()
                try:
                    figures = run(redis.url)
                except NotAvailable as exc:  # this build lacks what the scenario needs
                    scenario.unavailable.add(side)
                    scenario.notes.append(f"{side}: not available: {exc}")
                    print(f"  {scenario.name} / {side}: not available ({exc})", flush=True)
                    break
                except Exception as exc:  # a peer that fails is reported, not hidden
                    scenario.notes.append(f"{side}: run {attempt + 1} failed: {exc}"[:300])
                    print(f"  {scenario.name} / {side}: FAILED ({exc})"[:300], flush=True)
                    break
            runs.append(figures)
            for remark in getattr(figures, "notes", ()):
                scenario.notes.append(f"{side} run {attempt + 1}: {remark}")
            shown = ", ".join(f"{k} {v:,.1f}" for k, v in figures.items())
            print(
                f"  {scenario.name} / {side} run {attempt + 1}: {shown} "
                f"({time.monotonic() - started:.0f} s)",
                flush=True,
            )
            if figures.get("completed") is not None and math.isinf(
                figures.get("first_to_last_s", 0)
            ):
                scenario.notes.append(
                    f"{side}: did not finish (completed {figures['completed']:.0f}); "
                    "further repeats skipped"
                )
                break
        scenario.results[side] = runs


def median(scenario: Scenario, side: str, figure: str) -> float | None:
    values = [run[figure] for run in scenario.results.get(side, []) if figure in run]
    return statistics.median(values) if values else None


def ratio(ours_value: float | None, peer: float | None, higher_is_better: bool) -> str:
    if ours_value is None or peer is None:
        return ""
    if higher_is_better:
        value = ours_value / peer if peer else math.inf
    else:
        value = peer / ours_value if ours_value else math.inf
    return "inf" if math.isinf(value) else f"{value:.2f}x"


def number(value: float | None, *, available: bool = True) -> str:
    if not available:
        return "not available"
    if value is None:
        return "—"
    if math.isinf(value):
        return "did not finish"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"


def table(found: list[Scenario]) -> str:
    header = (
        "| scenario | figure | ours | BullMQ-Py | ours vs Py | BullMQ-Node | ours vs Node "
        "| target |"
    )
    lines = [header, "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for scenario in found:
        for row in scenario.rows:
            mine = median(scenario, "ours", row.figure)
            py = median(scenario, "bullmq-py", row.figure)
            node = median(scenario, "bullmq-node", row.figure)
            target = row.target
            if row.meets is not None and mine is not None:
                target += " ✔" if row.meets(mine) else " ✘"
            shown = number(mine, available="ours" not in scenario.unavailable)
            lines.append(
                f"| {scenario.title} | {row.label} | {shown} | {number(py)} | "
                f"{ratio(mine, py, row.higher_is_better)} | {number(node)} | "
                f"{ratio(mine, node, row.higher_is_better)} | {target} |"
            )
    return "\n".join(lines)


def machine() -> dict[str, str]:
    redis_version = subprocess.run(
        [find_redis_server(), "--version"], capture_output=True, text=True
    ).stdout.strip()
    node_version = (
        subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        if node_available()
        else "absent"
    )
    cpus = sum(
        1 for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("processor")
    )
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return {
        "cpus": f"{cpus} x {model}",
        "python": platform.python_version(),
        "redis": redis_version,
        "node": node_version,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the harness")
    parser.add_argument("--json", type=Path, help="write every run's figures to this file")
    parser.add_argument(
        "--repeats", type=int, help="runs per scenario and side (3; 1 with --quick)"
    )
    parser.add_argument("--only", nargs="*", help="scenario names to run (default: all)")
    args = parser.parse_args()
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if node_available():
        ensure_node_packages()
    found = [s for s in scenarios(args.quick) if not args.only or s.name in args.only]
    about = machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in about.items()), flush=True)
    started = time.monotonic()
    for scenario in found:
        print(f"{scenario.title}", flush=True)
        run_scenario(scenario, args.repeats)
    print()
    print(table(found))
    for scenario in found:
        for note in scenario.notes:
            print(f"note: {scenario.name}: {note}")
    print(
        f"\n{'quick' if args.quick else 'full'} run, {args.repeats} repeats, "
        f"{(time.monotonic() - started) / 60:.1f} min"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": about,
                    "quick": args.quick,
                    "repeats": args.repeats,
                    "scenarios": {
                        s.name: {"title": s.title, "runs": s.results, "notes": s.notes}
                        for s in found
                    },
                },
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
