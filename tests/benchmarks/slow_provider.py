"""Pacing at the provider: delivery engine v2 side by side with the commit before it, and BullMQ's
limiter, as a provider on 127.0.0.1 sees them (docs/benchmarks.md, "Delivery engine v2").

    python tests/benchmarks/slow_provider.py [--only SCENARIO ...] [--baseline PYTHON]
        [--rates 50 100] [--latencies 0.05 0.3 1 2.5] [--messages 1000]
        [--baseline-messages N] [--repeats 1] [--json FILE]

Scenarios (`--only`; all by default), each bounded in messages and time, on a fresh redis-server
per run, one `queue-services worker` (1 process, 8 threads) and a `queue-services serve`:

* `latency`: a backlog of `--messages` SMS at each of `--rates`, to a provider answering each
  after each of `--latencies`: utilisation (the rate the provider saw from its first request to
  its last, over the limit) and the most requests in any 1 s window there.
* `slow-accept`: 1,000 SMS at 100/s, 0.3 s latency, to a provider slow to accept connections
  (`--accept` variants: a short listen queue, one accept every so many ms, a pause before a new
  connection is read): the most requests in any 1 s window.
* `tier`: `WORKSPACE_RATE_LIMITS={"ws-slow": {"sms": 1}}`, 200 due SMS of ws-slow then 1,000 of
  ws-fast, channel at 50/s: ws-fast's rate (bounded at `--tier-bound-s`, 90 s).
* `kill`: 3,000 SMS at 200/s, `LEASE_S=3`, the worker killed with SIGKILL after 1,000 and after
  2,000 distinct messages reached the provider, started again each time: requests beyond one
  per job (duplicates), and whether every job arrived; `--kill-latencies` (0: instant).
* `redis-cost`: Redis commands per message (`INFO commandstats`, script-internal commands
  included), worker and Redis CPU, at 50/s through the webhook provider and at 1,000/s through
  the null provider with 1 and 2 worker processes (`--cost RATE:MESSAGES:PROVIDER:PROCESSES`);
  and, from a MONITOR of a second run, the calls clients sent, by command and by Lua script.
* `bullmq`: BullMQ (Node, `tests/benchmarks/bullmq_node`) with its worker limiter
  `{max: rate, duration: 1000}` and a processor that POSTs to the same provider, concurrency
  max(50, 1.5 x rate x latency), for `--bullmq-latencies` (0.3 and 2.5 s) at each of `--rates`.

`--baseline PYTHON`: the interpreter of a venv with an earlier commit installed (editable) runs
that side's API server and worker; each table shows it beside ours (this checkout's code, run by
this interpreter). The header prints which `queue_services_server` each interpreter imports, so
a venv that points at the wrong tree shows. To set one up:

    git worktree add /tmp/qs-base 4b9fe8f
    python3 -m venv /tmp/qs-base/.venv
    /tmp/qs-base/.venv/bin/pip install -e "/tmp/qs-base[server]"

On a shared machine run each scenario under a lock, one at a time:
``flock /tmp/qs-heavy.lock python tests/benchmarks/slow_provider.py --only latency --rates 50``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import redis as redis_lib

sys.path.insert(0, str(Path(__file__).parents[2]))

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.store.keys import KeySpace
from tests import faulty_provider
from tests.api_process import running_api
from tests.benchmarks.common import Figures, script_names, tree_cpu_s
from tests.benchmarks.run import ensure_node_packages, machine, node_available, run_bench_mjs
from tests.harness import ADMIN_HEADERS, WaitTimeout, wait_until
from tests.receiver import max_per_window
from tests.workers import start_worker, stop_worker, worker_env

KEYS = KeySpace()
THREADS = 8
#: Variables that would make a side's interpreter import another tree than its own.
FOREIGN = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")


@dataclass(frozen=True)
class Side:
    """A system under test: a name and the interpreter that runs its API server and worker."""

    name: str
    python: str


def imported_code(side: Side) -> dict[str, str]:
    """Which `queue_services_server` the side's interpreter imports (with the environment and
    working directory its subprocesses get), that tree's commit, and its pacing module."""
    probe = (
        "import json, pathlib, queue_services_server as q\n"
        "root = pathlib.Path(q.__file__).parent\n"
        "print(json.dumps({'file': q.__file__, 'pacer': (root / 'delivery/pacer.py').exists()}))"
    )
    done = subprocess.run([side.python, "-c", probe], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    tree = Path(found["file"]).parents[2]
    commit = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(tree), "status", "--porcelain", "--", "server", "sdk"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "python": side.python,
        "imports": found["file"],
        "commit": commit[:90] + (" (server/sdk modified)" if dirty else ""),
        "engine": "v2 (delivery/pacer.py)" if found["pacer"] else "v1 (no delivery/pacer.py)",
    }


# ---- the system under test ------------------------------------------------------------------


@dataclass
class Stack:
    redis: EmbeddedRedis
    api_url: str
    client: redis_lib.Redis

    def finished(self) -> int:
        """Jobs COMPLETED or FAILED (the status indexes: the same keys on both sides)."""
        return int(
            self.client.zcard(KEYS.state("sms", "COMPLETED"))
            + self.client.zcard(KEYS.state("sms", "FAILED"))
        )


@contextmanager
def stack(side: Side) -> Iterator[Stack]:
    """A fresh redis-server and the side's API server."""
    with (
        tempfile.TemporaryDirectory() as folder,
        EmbeddedRedis(Path(folder)) as redis,
        running_api(redis.url, python=side.python) as api,
    ):
        client = redis_lib.Redis.from_url(redis.url)
        try:
            yield Stack(redis, api.url, client)
        finally:
            client.close()


def schedule(api_url: str, items: Sequence[dict[str, object]]) -> list[str]:
    """Schedule SMS through the bulk endpoint, 2,000 a request; returns their job ids."""
    ids: list[str] = []
    with httpx.Client(base_url=api_url, headers=ADMIN_HEADERS, timeout=120) as http:
        for start in range(0, len(items), 2000):
            answer = http.post(
                "/api/schedule-sms/bulk", json={"messages": list(items[start : start + 2000])}
            )
            answer.raise_for_status()
            ids += [result["jobId"] for result in answer.json()["results"]]
    return ids


def sms(
    count: int, workspaces: Sequence[str] = ("ws-0", "ws-1", "ws-2")
) -> list[dict[str, object]]:
    return [
        {
            "phoneNumber": f"+1415555{n % 10_000:04d}",
            "message": f"Your code is {n:06d}",
            "workspaceId": workspaces[n % len(workspaces)],
            "contactId": f"c-{n}",
        }
        for n in range(count)
    ]


def env_for(
    stack: Stack, provider_url: str | None, rate: int, **settings: object
) -> dict[str, str]:
    if provider_url is None:
        settings = {"sms_provider": "null", **settings}
    else:
        settings = {"sms_provider": "webhook", "sms_api_url": provider_url, **settings}
    return worker_env(stack.redis.url, email_provider="null", sms_rate_limit=rate, **settings)


@contextmanager
def worker(
    side: Side, env: dict[str, str], processes: int = 1
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The side's worker; yields a one-item list holding its process (replaced on a restart)."""
    holder = [
        start_worker(
            env, processes=processes, threads=THREADS, python=side.python, heartbeats=processes
        )
    ]
    try:
        yield holder
    finally:
        stop_worker(holder[0])


def arrivals(provider: faulty_provider.FaultyProvider) -> list[faulty_provider.Request]:
    with provider.lock:
        return list(provider.requests)


def busiest_window(
    requests: list[faulty_provider.Request], window_s: float = 1.0
) -> list[faulty_provider.Request]:
    """The requests of the busiest `window_s` window (the first such, if several)."""
    ordered = sorted(requests, key=lambda r: r.at)
    best: tuple[int, int] = (0, 0)
    start = 0
    for end, request in enumerate(ordered):
        while request.at - ordered[start].at >= window_s:
            start += 1
        if end + 1 - start > best[1] - best[0]:
            best = (start, end + 1)
    return ordered[best[0] : best[1]]


def connection_figures(provider: faulty_provider.FaultyProvider) -> Figures:
    """Where the busiest window's requests came from: how many were the first request of a new
    connection (a request whose connection the provider was slow to accept arrives late, after
    its slot, whatever the sender did), and how late the provider's own loop was around it (a
    loop held up timestamps requests late, together: the measurement's own jitter)."""
    requests = arrivals(provider)
    busiest = busiest_window(requests)
    first = min((r.at for r in requests), default=0.0)
    lags = list(provider.lags)
    around = [
        lag for at, lag in lags if busiest and busiest[0].at - 0.01 <= at <= busiest[-1].at + 0.01
    ]
    return {
        "provider_max_lag_ms": max((lag for _, lag in lags), default=0.0) * 1000,
        "busiest_lag_ms": max(around, default=0.0) * 1000,
        "busiest_first_on_connection": sum(r.first_on_connection for r in busiest),
        "first_on_connection_after_2s": sum(
            r.first_on_connection for r in requests if r.at >= first + 2
        ),
    }


def pacing_figures(times: list[float], rate: int) -> Figures:
    """Utilisation (the rate from the first arrival to the last, over the limit) and the most
    arrivals in any 1 s window."""
    times = sorted(times)
    span = times[-1] - times[0] if len(times) > 1 else math.inf
    # After the first 2 s (the provider's latency not measured yet: a ramp-up), for a diagnosis.
    steady = [at for at in times if at >= times[0] + 2] if times else []
    steady_span = steady[-1] - steady[0] if len(steady) > 1 else math.inf
    return {
        "received": len(times),
        "utilisation_pct": (len(times) - 1) / span / rate * 100 if span else math.inf,
        "max_per_1s": max_per_window(times),
        "first_to_last_s": span,
        "first_2s": len(times) - len(steady),
        "after_2s_pct": (len(steady) - 1) / steady_span / rate * 100 if steady_span else math.inf,
    }


# ---- scenarios ------------------------------------------------------------------------------


def latency_run(
    side: Side,
    *,
    rate: int,
    latency_s: float,
    messages: int,
    backlog: int = 1024,
    accept_every_s: float = 0.0,
    read_delay_s: float = 0.0,
) -> Figures:
    """A backlog of `messages` due SMS sent at `rate` to a provider answering after `latency_s`
    (and slow to accept, when asked)."""
    answer = faulty_provider.Answer(200, {"messageId": "m"}, delay_s=latency_s)
    with (
        stack(side) as sut,
        faulty_provider.running_faulty_provider(
            lambda *_: answer,
            backlog=backlog,
            accept_every_s=accept_every_s,
            read_delay_s=read_delay_s,
        ) as provider,
    ):
        ids = schedule(sut.api_url, sms(messages))
        bound_s = messages / rate / 0.3 + 30
        started = time.monotonic()
        with worker(side, env_for(sut, provider.url, rate)), suppress(WaitTimeout):
            wait_until(lambda: sut.finished() >= len(ids), timeout_s=bound_s, interval_s=0.2)
        elapsed = time.monotonic() - started
        seen = arrivals(provider)
        keys = Counter(r.headers.get("idempotency-key") for r in seen)
        return {
            **pacing_figures([r.at for r in seen], rate),
            **connection_figures(provider),
            "distinct": len(keys),
            "finished": sut.finished(),
            "connections": provider.connections,
            "run_s": elapsed,
        }


def tier_run(side: Side, *, rate: int, bound_s: float) -> Figures:
    """ws-slow (1/s tier) with 200 due, then ws-fast with 1,000; channel `rate`/s."""
    answer = faulty_provider.Answer(200, {"messageId": "m"})
    with stack(side) as sut, faulty_provider.running_faulty_provider(lambda *_: answer) as provider:
        schedule(sut.api_url, sms(200, ["ws-slow"]))
        fast_ids = set(schedule(sut.api_url, sms(1000, ["ws-fast"])))
        env = env_for(sut, provider.url, rate, workspace_rate_limits='{"ws-slow": {"sms": 1}}')

        def fast_done() -> bool:
            fast = sum(r.body.get("workspaceId") == "ws-fast" for r in arrivals(provider))
            return bool(fast >= len(fast_ids))

        started = time.time()
        with worker(side, env), suppress(WaitTimeout):
            wait_until(fast_done, timeout_s=bound_s, interval_s=0.2)
        ended = min(time.time(), started + bound_s)
        seen = arrivals(provider)
        fast = sorted(r.at for r in seen if r.body.get("workspaceId") == "ws-fast")
        slow = sorted(r.at for r in seen if r.body.get("workspaceId") == "ws-slow")
        complete = len(fast) >= len(fast_ids)
        first = min(r.at for r in seen) if seen else started
        if complete and len(fast) > 1:
            fast_rate = (len(fast) - 1) / (fast[-1] - fast[0])
        else:  # within the bound: what it got since the first send of either
            fast_rate = len(fast) / max(ended - first, 1e-9)
        return {
            "fast_received": len(fast),
            "fast_rate": fast_rate,
            "fast_share_pct": fast_rate / rate * 100,
            "fast_complete": float(complete),
            "window_s": (fast[-1] - fast[0]) if complete else ended - first,
            "slow_received": len(slow),
            "slow_max_per_1s": max_per_window(slow) if slow else 0,
            "max_per_1s": max_per_window([r.at for r in seen]) if seen else 0,
        }


def kill_run(side: Side, *, messages: int, rate: int, lease_s: float, latency_s: float) -> Figures:
    """`messages` SMS at `rate`; the worker SIGKILLed after each third has reached the provider
    (twice), started again at once each time."""
    answer = faulty_provider.Answer(200, {"messageId": "m"}, delay_s=latency_s)
    with stack(side) as sut, faulty_provider.running_faulty_provider(lambda *_: answer) as provider:
        ids = set(schedule(sut.api_url, sms(messages, [f"ws-{n}" for n in range(10)])))
        env = env_for(sut, provider.url, rate, lease_s=lease_s)

        def distinct() -> int:
            return len({r.headers.get("idempotency-key") for r in arrivals(provider)})

        in_flight_at_kills = 0
        kills: list[float] = []
        with worker(side, env) as process:
            for third in (1, 2):
                wait_until(
                    partial(lambda part: distinct() >= messages * part // 3, third),
                    timeout_s=messages / rate * 5 + 60,
                    interval_s=0.05,
                )
                stop_worker(process[0], kill=True)
                kills.append(time.time())
                in_flight_at_kills += int(sut.client.zcard(KEYS.inflight("sms")))
                process[0] = start_worker(env, threads=THREADS, python=side.python)
            with suppress(WaitTimeout):
                wait_until(
                    lambda: distinct() >= len(ids) and sut.finished() >= len(ids),
                    timeout_s=lease_s * 4 + messages / rate * 3 + 60,
                    interval_s=0.2,
                )
        seen = arrivals(provider)
        keys = Counter(r.headers.get("idempotency-key") for r in seen)
        return {
            "received": len(seen),
            "distinct": len(set(keys) & ids),
            "missing": len(ids - set(keys)),
            "duplicates": len(seen) - len(keys),
            "in_flight_at_kills": in_flight_at_kills,
            "max_per_1s": max_per_window([r.at for r in seen]),
            "finished": sut.finished(),
        }


def redis_cpu_s(client: redis_lib.Redis) -> float:
    """CPU time the redis-server has used, seconds."""
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def commandstats(client: redis_lib.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


class Monitor:
    """A MONITOR connection read in a thread: client calls by command (EVALSHA by script) and
    the commands scripts ran, for the duration of a `with` block."""

    LINE = re.compile(rb'^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"(?: "([^"]*)")?')

    def __init__(self, host: str, port: int, names: dict[str, str]) -> None:
        self.names = names
        self.clients: Counter[str] = Counter()
        self.scripted: Counter[str] = Counter()
        self._sock = socket.create_connection((host, port))
        self._sock.sendall(b"MONITOR\r\n")
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop reading (the counts are final from then on); again does nothing."""
        if self._stop:
            return
        self._stop = True
        with suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        self._sock.close()

    def _read(self) -> None:
        buffer = b""
        while not self._stop:
            try:
                chunk = self._sock.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\r\n")
            for line in lines:
                match = self.LINE.match(line)
                if match is None:
                    continue
                source, command, first = match.groups()
                name = command.decode().lower()
                if source == b"lua":
                    self.scripted[name] += 1
                    continue
                if name in ("evalsha", "eval") and first is not None:
                    sha = first.decode() if name == "evalsha" else ""
                    name = f"{name} {self.names.get(sha, sha[:8] or 'inline')}"
                self.clients[name] += 1


def redis_cost_run(
    side: Side,
    *,
    rate: int,
    messages: int,
    provider_kind: str,
    monitor: bool,
    processes: int = 1,
    idle_s: float = 5.0,
) -> Figures:
    """Redis commands per message while `messages` due SMS go out at `rate` (the webhook
    provider to an instant endpoint, or the null provider), from the worker's start to the last
    job finished; then the worker's idle cost per second, measured for `idle_s`. With `monitor`,
    also the calls clients sent (a MONITOR connection, which costs Redis and this process some
    CPU: the commandstats figures come from a run without it)."""
    names = script_names(side.python)
    answer = faulty_provider.Answer(200, {"messageId": "m"})
    with stack(side) as sut, faulty_provider.running_faulty_provider(lambda *_: answer) as provider:
        ids = schedule(sut.api_url, sms(messages))
        url = provider.url if provider_kind == "webhook" else None
        env = env_for(sut, url, rate)
        host, port = sut.redis.url.removeprefix("redis://").split("/")[0].split(":")
        polls = 0

        def done() -> bool:
            nonlocal polls
            polls += 2  # two ZCARDs
            return sut.finished() >= len(ids)

        watch = Monitor(host, int(port), names) if monitor else None
        before = commandstats(sut.client)
        started = time.monotonic()
        watching: AbstractContextManager[object] = watch or nullcontext()
        redis_cpu = redis_cpu_s(sut.client)
        with watching, worker(side, env, processes) as process:
            with suppress(WaitTimeout):
                wait_until(done, timeout_s=messages / rate * 4 + 30, interval_s=0.5)
            elapsed = time.monotonic() - started
            after = commandstats(sut.client)
            worker_cpu = tree_cpu_s(process[0].pid)
            redis_cpu = redis_cpu_s(sut.client) - redis_cpu
            if watch is not None:
                watch.stop()
            time.sleep(idle_s)
            idle = commandstats(sut.client)
        finished = sut.finished()
        entries: list[tuple[bytes, float]] = sut.client.zrange(  # type: ignore[assignment]
            KEYS.state("sms", "COMPLETED"), 0, -1, withscores=True
        )
        scores = [score for _, score in entries]
    # The calls of this function, counted by Redis too: left out.
    mine = {"info": 1, "zcard": polls, "monitor": int(monitor)}

    def delta(a: dict[str, int], b: dict[str, int], own: dict[str, int]) -> Counter[str]:
        found = Counter({name: b[name] - a.get(name, 0) - own.get(name, 0) for name in b})
        return Counter({name: calls for name, calls in found.items() if calls > 0})

    run = delta(before, after, mine)
    quiet = delta(after, idle, {"info": 1})
    total = sum(run.values())
    idle_per_s = sum(quiet.values()) / idle_s
    # The status index's scores: when each job entered COMPLETED (ms).
    span_s = (scores[-1] - scores[0]) / 1000 if len(scores) > 1 else math.inf
    figures: Figures = {
        "finished": finished,
        "run_s": elapsed,
        "completed_per_s": (len(scores) - 1) / span_s,
        "commands_per_message": total / messages,
        "commands_per_message_less_idle": (total - idle_per_s * elapsed) / messages,
        "idle_commands_per_s": idle_per_s,
        "commands_per_s": total / elapsed,
        "worker_cpu_pct": worker_cpu / elapsed * 100,
        "redis_cpu_us_per_message": redis_cpu / messages * 1e6,
    }
    for name, calls in run.most_common(8):
        figures[f"cmd {name}"] = calls / messages
    for name, calls in quiet.most_common(4):
        figures[f"idle {name}"] = calls / idle_s
    if watch is not None:
        clients = watch.clients
        clients["zcard"] -= polls
        clients["info"] -= 1
        clients = Counter({name: calls for name, calls in clients.items() if calls > 0})
        figures["client_calls_per_message"] = sum(clients.values()) / messages
        for name, calls in clients.most_common(10):
            figures[f"client {name}"] = calls / messages
    return figures


def bullmq_run(*, rate: int, latency_s: float, messages: int) -> Figures:
    """BullMQ's worker limiter at `rate`, a processor that POSTs each job to the provider."""
    concurrency = max(50, math.ceil(1.5 * rate * latency_s))
    answer = faulty_provider.Answer(200, {"messageId": "m"}, delay_s=latency_s)
    with (
        tempfile.TemporaryDirectory() as folder,
        EmbeddedRedis(Path(folder)) as redis,
        faulty_provider.running_faulty_provider(lambda *_: answer) as provider,
    ):
        node = run_bench_mjs(
            "provider_latency",
            redis.url,
            messages=messages,
            rate=rate,
            concurrency=concurrency,
            providerUrl=provider.url,
            timeoutS=messages / rate / 0.3 + 30,
        )
        seen = arrivals(provider)
    return {
        **pacing_figures([r.at for r in seen], rate),
        "completed": node["completed"],
        "failed": node["failed"],
        "concurrency": concurrency,
        "connections": provider.connections,
    }


# ---- the report -----------------------------------------------------------------------------


def show(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return "did not finish"
    return f"{value:,.{digits}f}"


def ratio(ours: float | None, other: float | None, higher_is_better: bool) -> str:
    if ours is None or other is None or math.isinf(ours) or math.isinf(other):
        return ""
    if higher_is_better:
        return f"{ours / other:.2f}x" if other else "inf"
    return f"{other / ours:.2f}x" if ours else "inf"


@dataclass
class Report:
    """Every run's figures, printed as they come and kept for `--json`."""

    runs: list[dict[str, Any]]

    def record(self, scenario: str, side: str, params: dict[str, Any], figures: Figures) -> None:
        self.runs.append({"scenario": scenario, "side": side, "params": params, **figures})
        shown = ", ".join(f"{k} {v:,.2f}" for k, v in figures.items())
        print(f"  {scenario} {params} / {side}: {shown}", flush=True)


def repeat(
    report: Report,
    scenario: str,
    side: str,
    params: dict[str, Any],
    times: int,
    run: Callable[[], Figures],
) -> list[Figures]:
    found = []
    for _ in range(times):
        figures = run()
        report.record(scenario, side, params, figures)
        found.append(figures)
    return found


def table(title: str, header: str, rows: list[str]) -> str:
    columns = header.count("|") - 1
    text = "\n".join([f"\n{title}\n", header, "|" + " --- |" * columns, *rows])
    print(text, flush=True)
    return text


def pair(got: dict[str, list[Figures]], i: int) -> tuple[Figures, Figures]:
    """Our figures of run `i`, and the baseline's (empty without one)."""
    return got["ours"][i], got["baseline"][i] if "baseline" in got else {}


def latency_scenario(args: argparse.Namespace, sides: list[Side], report: Report) -> str:
    rows = []
    for rate in args.rates:
        for latency in args.latencies:
            got: dict[str, list[Figures]] = {}
            for side in sides:
                n = args.messages
                if side.name == "baseline" and args.baseline_messages:
                    n = args.baseline_messages
                params = {"rate": rate, "latency_s": latency, "messages": n}
                run = partial(latency_run, side, rate=rate, latency_s=latency, messages=n)
                got[side.name] = repeat(report, "latency", side.name, params, args.repeats, run)
            for i in range(args.repeats):
                o, b = pair(got, i)
                rows.append(
                    f"| {rate}/s | {latency * 1000:.0f} ms "
                    f"| {show(o['utilisation_pct'])}% | {show(o['max_per_1s'], 0)} "
                    f"| {show(b.get('utilisation_pct'))}% | {show(b.get('max_per_1s'), 0)} "
                    f"| {ratio(o['utilisation_pct'], b.get('utilisation_pct'), True)} |"
                )
    return table(
        f"Latency x rate: {args.messages:,} due SMS (baseline "
        f"{args.baseline_messages or args.messages:,}), one worker",
        "| limit | provider latency | ours: utilisation | ours: most in 1 s "
        "| baseline: utilisation | baseline: most in 1 s | utilisation, ours vs baseline |",
        rows,
    )


def slow_accept_scenario(args: argparse.Namespace, sides: list[Side], report: Report) -> str:
    rows = []
    for variant in args.accept:
        backlog, every_ms, delay_ms = (int(part) for part in variant.split(":"))
        params = {"backlog": backlog, "accept_every_ms": every_ms, "read_delay_ms": delay_ms}
        got = {}
        for side in sides:
            run = partial(
                latency_run,
                side,
                rate=100,
                latency_s=0.3,
                messages=1000,
                backlog=backlog,
                accept_every_s=every_ms / 1000,
                read_delay_s=delay_ms / 1000,
            )
            got[side.name] = repeat(report, "slow-accept", side.name, params, args.repeats, run)
        for i in range(args.repeats):
            o, b = pair(got, i)
            rows.append(
                f"| {backlog} | {every_ms} ms | {delay_ms} ms "
                f"| {show(o['max_per_1s'], 0)} ({show(o['busiest_first_on_connection'], 0)}) "
                f"| {show(o['utilisation_pct'])}% "
                f"| {show(o['distinct'], 0)} | {show(o['connections'], 0)} "
                f"| {show(b.get('max_per_1s'), 0)} "
                f"({show(b.get('busiest_first_on_connection'), 0)}) "
                f"| {show(b.get('utilisation_pct'))}% "
                f"| {show(b.get('distinct'), 0)} | {show(b.get('connections'), 0)} |"
            )
    return table(
        "Slow to accept: 1,000 SMS at 100/s, provider latency 0.3 s (in brackets: how many of "
        "the busiest second's requests were the first on a new connection)",
        "| listen backlog | one accept per | pause before reading | ours: most in 1 s "
        "| ours: utilisation | ours: arrived | ours: connections | baseline: most in 1 s "
        "| baseline: utilisation | baseline: arrived | baseline: connections |",
        rows,
    )


def tier_scenario(args: argparse.Namespace, sides: list[Side], report: Report) -> str:
    rows = []
    for side in sides:
        run = partial(tier_run, side, rate=50, bound_s=args.tier_bound_s)
        for f in repeat(report, "tier", side.name, {"rate": 50}, args.repeats, run):
            rows.append(
                f"| {side.name} | {show(f['fast_received'], 0)} of 1,000 in "
                f"{show(f['window_s'])} s | {show(f['fast_rate'])}/s "
                f"({show(f['fast_share_pct'])}%) | {show(f['slow_received'], 0)} "
                f"| {show(f['slow_max_per_1s'], 0)} | {show(f['max_per_1s'], 0)} |"
            )
    return table(
        'Tier: WORKSPACE_RATE_LIMITS={"ws-slow":{"sms":1}}, ws-slow 200 due then ws-fast '
        f"1,000, channel 50/s (bound {args.tier_bound_s:.0f} s)",
        "| side | ws-fast sent | ws-fast rate | ws-slow sent meanwhile | ws-slow most in 1 s "
        "| channel most in 1 s |",
        rows,
    )


def kill_scenario(args: argparse.Namespace, sides: list[Side], report: Report) -> str:
    rows = []
    for latency in args.kill_latencies:
        for side in sides:
            run = partial(kill_run, side, messages=3000, rate=200, lease_s=3, latency_s=latency)
            params = {"latency_s": latency}
            for f in repeat(report, "kill", side.name, params, args.repeats, run):
                rows.append(
                    f"| {latency * 1000:.0f} ms | {side.name} | {show(f['duplicates'], 0)} "
                    f"| {show(f['distinct'], 0)} of 3,000 ({show(f['missing'], 0)} missing) "
                    f"| {show(f['in_flight_at_kills'], 0)} | {show(f['max_per_1s'], 0)} |"
                )
    return table(
        "kill -9: 3,000 SMS at 200/s, LEASE_S=3, the worker SIGKILLed after 1,000 and 2,000 "
        "reached the provider, started again each time",
        "| provider latency | side | duplicates | arrived | in flight at the kills | most in 1 s |",
        rows,
    )


def redis_cost_scenario(args: argparse.Namespace, sides: list[Side], report: Report) -> str:
    rows = []
    for run_spec in args.cost:
        rate_text, messages_text, kind, processes_text = run_spec.split(":")
        rate, messages, processes = int(rate_text), int(messages_text), int(processes_text)
        for side in sides:
            params = {"rate": rate, "messages": messages, "provider": kind, "processes": processes}
            for monitor in (False, True):
                run = partial(
                    redis_cost_run,
                    side,
                    rate=rate,
                    messages=messages,
                    provider_kind=kind,
                    monitor=monitor,
                    processes=processes,
                )
                found = repeat(
                    report, "redis-cost", side.name, {**params, "monitor": monitor}, 1, run
                )
                if monitor:
                    watched = found[0]
                else:
                    f = found[0]
            top = ", ".join(
                f"{name.removeprefix('cmd ')} {value:.2f}"
                for name, value in f.items()
                if name.startswith("cmd ")
            )
            idle = ", ".join(
                f"{name.removeprefix('idle ')} {value:.0f}"
                for name, value in f.items()
                if name.startswith("idle ")
            )
            calls = ", ".join(
                f"{name.removeprefix('client ')} {value:.3f}"
                for name, value in watched.items()
                if name.startswith("client ")
            )
            rows.append(
                f"| {rate}/s, {kind}, {processes} process{'es' if processes > 1 else ''} "
                f"| {side.name} | {show(f['finished'], 0)}, "
                f"{show(f['completed_per_s'], 0)}/s | {show(f['commands_per_message'], 2)} "
                f"({show(f['commands_per_message_less_idle'], 2)} less idle) | {top} "
                f"| {show(f['idle_commands_per_s'], 0)}: {idle} "
                f"| {show(watched['client_calls_per_message'], 2)}: {calls} "
                f"| {show(f['worker_cpu_pct'], 0)}% | {show(f['redis_cpu_us_per_message'], 0)} |"
            )
    return table(
        "Redis cost per message: INFO commandstats over the run (commands scripts ran included), "
        "and the calls clients sent (MONITOR, in a second run)",
        "| run | side | finished, rate | commands per message | top commands per message "
        "| idle commands/s | client calls per message, by command and script "
        "| worker CPU | Redis CPU per message, µs |",
        rows,
    )


def bullmq_scenario(args: argparse.Namespace, sides: list[Side], report: Report) -> str:
    if not node_available():
        print("bullmq: node and npm are not on the PATH; skipped")
        return ""
    ensure_node_packages()
    rows = []
    for rate in args.rates:
        for latency in args.bullmq_latencies:
            run = partial(bullmq_run, rate=rate, latency_s=latency, messages=args.messages)
            params = {"rate": rate, "latency_s": latency}
            for f in repeat(report, "bullmq", "bullmq-node", params, args.repeats, run):
                rows.append(
                    f"| {rate}/s | {latency * 1000:.0f} ms | {show(f['concurrency'], 0)} "
                    f"| {show(f['utilisation_pct'])}% | {show(f['max_per_1s'], 0)} "
                    f"| {show(f['received'], 0)} |"
                )
    return table(
        f"BullMQ (Node) worker limiter {{max: rate, duration: 1000}}: {args.messages:,} jobs, "
        "a processor POSTing each to the provider",
        "| limit | provider latency | concurrency | utilisation | most in 1 s | received |",
        rows,
    )


SCENARIOS: dict[str, Callable[[argparse.Namespace, list[Side], Report], str]] = {
    "latency": latency_scenario,
    "slow-accept": slow_accept_scenario,
    "tier": tier_scenario,
    "kill": kill_scenario,
    "redis-cost": redis_cost_scenario,
    "bullmq": bullmq_scenario,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--baseline", metavar="PYTHON", help="the earlier commit's interpreter")
    parser.add_argument("--rates", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.05, 0.3, 1.0, 2.5])
    parser.add_argument("--bullmq-latencies", type=float, nargs="+", default=[0.3, 2.5])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--baseline-messages", type=int, help="messages of its latency runs")
    parser.add_argument(
        "--accept",
        nargs="+",
        default=["1:20:0", "4:10:0", "8:5:0", "1024:0:50"],
        help="slow-accept variants, BACKLOG:ACCEPT_EVERY_MS:READ_DELAY_MS",
    )
    parser.add_argument(
        "--cost",
        nargs="+",
        default=["50:1000:webhook:1", "1000:10000:null:1", "1000:10000:null:2"],
        help="redis-cost runs, RATE:MESSAGES:PROVIDER:WORKER_PROCESSES (webhook or null)",
    )
    parser.add_argument("--tier-bound-s", type=float, default=90)
    parser.add_argument("--kill-latencies", type=float, nargs="+", default=[0.0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write every run's figures to this file")
    args = parser.parse_args()

    # The sides' processes inherit this environment: nothing in it may point them elsewhere.
    for name in FOREIGN:
        os.environ.pop(name, None)
    sides = [Side("ours", sys.executable)]
    if args.baseline:
        sides.append(Side("baseline", args.baseline))
    about = {side.name: imported_code(side) for side in sides}
    started_at = datetime.now(UTC)
    print(
        f"# {started_at:%Y-%m-%d %H:%M} UTC; " + "; ".join(f"{k} {v}" for k, v in machine().items())
    )
    for name, code in about.items():
        print(f"# {name}: {code['python']} imports {code['imports']}")
        print(f"#   {code['commit']}; engine {code['engine']}")
    if about["ours"]["engine"].startswith("v1"):
        raise SystemExit("this interpreter does not import engine v2: check its venv")
    report = Report([])
    tables = [SCENARIOS[name](args, sides, report) for name in args.only]
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": started_at.isoformat(),
                    "machine": machine(),
                    "sides": about,
                    "argv": sys.argv[1:],
                    "runs": report.runs,
                    "tables": tables,
                },
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
