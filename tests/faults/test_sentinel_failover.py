"""A Redis primary shut down and its replica promoted by Sentinel while clients schedule and
messages go out: the API and the workers, given a ``redis+sentinel://`` URL, follow the new
primary by themselves, and every acknowledged job is delivered."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis as redis_lib

from queue_services_server.dev import EmbeddedRedis, find_redis_server, free_port
from tests.api_process import ApiProcess
from tests.faults.load import ClientLoad, wait_delivered
from tests.harness import wait_until
from tests.receiver import Receiver
from tests.workers import delivery_env, running_worker

SERVICE = "qs-primary"


@contextmanager
def running_sentinel(folder: Path, primary_port: int) -> Iterator[tuple[redis_lib.Redis, str]]:
    """One Sentinel watching the primary (a quorum of one: it alone decides the primary is down):
    a client of it, and the ``redis+sentinel://`` URL of the primary it watches."""
    folder.mkdir(parents=True)
    port = free_port()
    config = folder / "sentinel.conf"  # Sentinel rewrites its configuration file as it learns
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 1\n"
        f"sentinel down-after-milliseconds {SERVICE} 2000\n"
        f"sentinel failover-timeout {SERVICE} 10000\n"
    )
    process = subprocess.Popen(
        [find_redis_server(), str(config), "--sentinel", "--logfile", str(folder / "log")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis_lib.Redis(host="127.0.0.1", port=port, decode_responses=True)
    try:
        wait_until(
            lambda: _answers(client), timeout_s=10, interval_s=0.1, message="Sentinel did not start"
        )
        yield client, f"redis+sentinel://127.0.0.1:{port}/{SERVICE}"
    finally:
        client.close()
        process.terminate()
        process.wait(10)


def _answers(client: redis_lib.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis_lib.ConnectionError:
        return False


def test_the_api_and_workers_follow_sentinel_to_the_new_primary_losing_nothing(
    tmp_path: Path, receiver: Receiver
) -> None:
    # Given a primary, its replica and a Sentinel watching them; an API server and a worker that
    # find the primary through the Sentinel; 4 SDK clients scheduling without pause (retrying up
    # to 5 times: a failover takes Sentinel's down-after time and a second or two more)
    with (
        EmbeddedRedis(tmp_path / "primary") as primary_server,
        EmbeddedRedis(tmp_path / "replica") as replica_server,
    ):
        with redis_lib.Redis(port=replica_server.port) as replica:
            replica.replicaof("127.0.0.1", primary_server.port)
            synced = lambda: replica.info("replication")["master_link_status"] == "up"  # noqa: E731
            wait_until(synced, timeout_s=10, interval_s=0.1, message="the replica did not sync")
        with running_sentinel(tmp_path / "sentinel", primary_server.port) as (sentinel, url):
            wait_until(
                lambda: sentinel.sentinel_slaves(SERVICE),
                timeout_s=15,
                interval_s=0.1,
                message="Sentinel did not see the replica",
            )
            api = ApiProcess(url)
            api.start()
            load = ClientLoad(api.url, clients=4, max_retries=5)
            try:
                with running_worker(delivery_env(url, receiver.url, sms_rate_limit=200, lease_s=3)):
                    load.start()
                    load.wait_for(300)
                    # When the primary shuts down (as for maintenance: Redis 7 first lets its
                    # replicas catch up) and Sentinel promotes the replica
                    acknowledged_before = {a.job_id for a in load.acknowledged}
                    sent_before = len(receiver.sent())
                    primary_server.stop()
                    wait_until(
                        lambda: (
                            int(sentinel.sentinel_get_master_addr_by_name(SERVICE)[1])
                            == replica_server.port
                        ),
                        timeout_s=30,
                        interval_s=0.1,
                        message="Sentinel did not promote the replica",
                    )
                    promoted_at = time.monotonic()
                    # ... while the clients go on for a while
                    load.wait_for(len(acknowledged_before) + 300, timeout_s=60)
                    load.stop()
                    acknowledged = {a.job_id for a in load.acknowledged}
                    missing = wait_delivered(receiver, acknowledged, timeout_s=30)
            finally:
                load.stop()
                api.stop()

    # Then the API and the worker went on with the new primary by themselves
    assert sent_before < len(acknowledged_before)  # the switch hit while messages were going out
    assert any(a.at > promoted_at for a in load.acknowledged)
    # And no client call failed: the SDK's retries carried them through the failover
    assert load.errors == []
    assert load.requests_sent > len(load.acknowledged)  # some were retried
    # And every acknowledged job, before the failover or after, was delivered
    assert missing == set(), f"{len(missing)} of {len(acknowledged)} never delivered"
    assert len(acknowledged) == len(load.acknowledged)
