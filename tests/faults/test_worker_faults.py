"""Workers killed, stopped and restarted during a broadcast: nothing is lost, and a message is sent
twice only if a worker died with it in flight, under the same idempotency key both times."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest
import redis as redis_lib

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.store.keys import KeySpace
from tests.harness import WaitTimeout, wait_until
from tests.receiver import Receiver
from tests.workers import delivery_env, running_worker, start_worker, stop_worker, worker_env

KEYS = KeySpace()

BROADCAST = 5_000
WORKSPACES = 10


def broadcast(http: httpx.Client, count: int) -> dict[str, str]:
    """Schedule `count` SMS due now, over `WORKSPACES` workspaces; returns job id -> contact id."""
    messages = [
        {
            "phoneNumber": f"+1415555{n % 10_000:04d}",
            "message": f"broadcast {n}",
            "workspaceId": f"ws-{n % WORKSPACES}",
            "contactId": f"contact-{n}",
        }
        for n in range(count)
    ]
    answer = http.post("/api/schedule-sms/bulk", json={"messages": messages}).json()
    assert answer["accepted"] == count, answer
    return {
        result["jobId"]: message["contactId"]
        for result, message in zip(answer["results"], messages, strict=True)
    }


def all_completed(redis: redis_lib.Redis, job_ids: set[str], timeout_s: float) -> bool:
    """Wait until every job is COMPLETED (read from the status index, one call); False if the
    time ran out (the tests assert on it, after recording what they need)."""

    def completed() -> bool:
        return job_ids <= {m.decode() for m in redis.zrange(KEYS.state("sms", "COMPLETED"), 0, -1)}

    try:
        wait_until(completed, timeout_s=timeout_s, interval_s=0.2)
    except WaitTimeout:
        return False
    return True


def test_workers_killed_with_sigkill_during_a_broadcast_lose_nothing(
    http: httpx.Client, redis_server: EmbeddedRedis, redis: redis_lib.Redis, receiver: Receiver
) -> None:
    # Given a broadcast of 5,000 SMS going out at 500/s through two workers (short leases)
    contact_of = broadcast(http, BROADCAST)
    env = delivery_env(redis_server.url, receiver.url, sms_rate_limit=500, lease_s=2)
    workers = [start_worker(env), start_worker(env)]
    in_flight_at_kills: set[str] = set()
    kills = 0
    chance = random.Random(8)
    try:
        # When, once sending has begun (two workers start in a few seconds on a busy machine),
        # four times along the way, one of them is killed with SIGKILL (its whole process
        # group at once, as in a crash) and a new one started in its place
        receiver.wait_for(50, timeout_s=30)
        while kills < 4:
            time.sleep(chance.uniform(0.8, 1.6))
            victim = workers.pop(chance.randrange(len(workers)))
            stop_worker(victim, kill=True)
            # Every job a dead worker could have sent without recording it has a lease running
            # (taken by the dead worker or by the live one: both are counted, so this is an
            # upper bound of what may go out twice).
            in_flight_at_kills |= {m.decode() for m in redis.zrange(KEYS.inflight("sms"), 0, -1)}
            kills += 1
            workers.append(start_worker(env))
        sent_while_killing = len(receiver.sent())
        finished = all_completed(redis, set(contact_of), timeout_s=60)
    finally:
        for worker in workers:
            stop_worker(worker)

    # Then the kills happened mid-broadcast, and every message still went out
    assert 0 < sent_while_killing < BROADCAST
    assert finished
    sent = receiver.sent()
    delivered = Counter(r.headers["idempotency-key"] for r in sent)
    assert set(delivered) == set(contact_of)
    # And a message went out twice only if it was in flight at a kill
    duplicates = {job_id for job_id, times in delivered.items() if times > 1}
    print(
        f"{len(sent)} sent, {len(duplicates)} twice, {len(in_flight_at_kills)} in flight at kills"
    )
    assert duplicates <= in_flight_at_kills
    # And every attempt of a message carried the same idempotency key: its job's id
    keys_of_contact: dict[str, set[str]] = defaultdict(set)
    for request in sent:
        keys_of_contact[request.body["contactId"]].add(request.headers["idempotency-key"])
    assert all(len(keys) == 1 for keys in keys_of_contact.values())
    assert {contact: keys.pop() for contact, keys in keys_of_contact.items()} == {
        contact: job_id for job_id, contact in contact_of.items()
    }


def test_workers_stopped_one_by_one_during_a_broadcast_send_each_message_once(
    http: httpx.Client, redis_server: EmbeddedRedis, redis: redis_lib.Redis, receiver: Receiver
) -> None:
    # Given a broadcast of 3,000 SMS going out at 300/s through two workers
    contact_of = broadcast(http, 3_000)
    env = delivery_env(redis_server.url, receiver.url, sms_rate_limit=300)
    workers = [start_worker(env), start_worker(env)]
    exit_codes: list[int | None] = []
    try:
        # When, once sending has begun, each is stopped with SIGTERM in turn and replaced, as in
        # a rolling upgrade
        receiver.wait_for(30, timeout_s=30)
        for _ in range(3):
            time.sleep(0.5)
            old = workers.pop(0)
            stop_worker(old)
            exit_codes.append(old.returncode)
            workers.append(start_worker(env))
        sent_during_upgrade = len(receiver.sent())
        finished = all_completed(redis, set(contact_of), timeout_s=60)
    finally:
        for worker in workers:
            stop_worker(worker)

    # Then each stopped worker finished its batches in flight and exited cleanly, and the
    # others took the rest: every message went out exactly once
    assert exit_codes == [0, 0, 0]
    assert 0 < sent_during_upgrade < 3_000
    assert finished
    delivered = Counter(r.headers["idempotency-key"] for r in receiver.sent())
    assert set(delivered) == set(contact_of)
    assert max(delivered.values()) == 1


def test_a_worker_whose_redis_is_gone_still_stops_on_sigterm(tmp_path: Path) -> None:
    # Given a worker, and its Redis gone for good
    redis_server = EmbeddedRedis(tmp_path / "redis")
    redis_server.start()
    env = worker_env(redis_server.url, sms_provider="null", email_provider="null")
    worker = start_worker(env)
    redis_server.stop()
    time.sleep(1.5)

    # When it is asked to stop
    started = time.monotonic()
    worker.terminate()
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        stop_worker(worker, kill=True)
        pytest.fail("the worker ignored SIGTERM for 30 s while Redis was gone")

    # Then it exits, cleanly
    assert worker.returncode == 0, (
        f"exit {worker.returncode} after {time.monotonic() - started:.1f} s"
    )


def test_a_worker_stopped_by_a_group_wide_sigterm_finishes_its_batches_and_exits(
    http: httpx.Client, redis_server: EmbeddedRedis, redis: redis_lib.Redis, receiver: Receiver
) -> None:
    # Given a worker sending a broadcast at 200/s
    contact_of = broadcast(http, 1_000)
    worker = start_worker(delivery_env(redis_server.url, receiver.url, sms_rate_limit=200))
    time.sleep(1.0)

    # When SIGTERM goes to its whole process group (systemd's default, `kill -- -PGID`): each
    # worker process gets it twice, directly and forwarded by Dramatiq's main process
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(60)
    except subprocess.TimeoutExpired:
        stop_worker(worker, kill=True)
        pytest.fail("the worker did not exit within 60 s of a group-wide SIGTERM")

    # Then it exited cleanly, and what it took was sent once; a new worker sends the rest
    assert worker.returncode == 0
    with running_worker(delivery_env(redis_server.url, receiver.url, sms_rate_limit=500)):
        assert all_completed(redis, set(contact_of), timeout_s=60)
    delivered = Counter(r.headers["idempotency-key"] for r in receiver.sent())
    assert set(delivered) == set(contact_of)
    assert max(delivered.values()) == 1
