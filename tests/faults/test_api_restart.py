"""The API server restarted (cleanly, or killed) while clients schedule: nothing it acknowledged is
lost, and nothing a client retried is scheduled twice."""

from __future__ import annotations

from collections import Counter
from contextlib import suppress

import pytest

from queue_services_server.dev import EmbeddedRedis
from tests.api_process import ApiProcess
from tests.faults.load import ClientLoad, delivered_ids
from tests.harness import WaitTimeout, wait_until
from tests.receiver import Receiver
from tests.workers import delivery_env, running_worker


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_jobs_acknowledged_by_a_restarted_api_server_are_all_delivered_once(
    kill: bool, redis_server: EmbeddedRedis, redis: object, receiver: Receiver
) -> None:
    # Given an API server, a worker, and 4 SDK clients scheduling without pause (5 retries
    # each: an API process takes a second or two to start again)
    api = ApiProcess(redis_server.url)
    api.start()
    load = ClientLoad(api.url, clients=4, max_retries=5)
    try:
        with running_worker(delivery_env(redis_server.url, receiver.url, sms_rate_limit=1000)):
            load.start()
            # When the server is stopped under load (SIGTERM: uvicorn finishes the requests in
            # flight; SIGKILL: they are cut off) and started again on the same port, twice
            for _ in range(2):
                load.wait_for(load.count() + 300)
                api.stop(kill=kill)
                api.start()
            load.wait_for(load.count() + 300)
            load.stop()
            acknowledged = Counter(a.job_id for a in load.acknowledged)
            # On a timeout, the assertions below say what went wrong (errors first, then what
            # was never delivered).
            with suppress(WaitTimeout):
                wait_until(
                    lambda: set(acknowledged) <= set(delivered_ids(receiver)),
                    timeout_s=60,
                    interval_s=0.2,
                )
            delivered = delivered_ids(receiver)
    finally:
        load.stop()
        api.stop()

    # Then no call failed: the SDK's retries carried every one across the restarts
    assert load.errors == []
    assert load.requests_sent > len(load.acknowledged)  # some were retried
    # And each call got a job of its own (a retried call reused its idempotency key)
    assert max(acknowledged.values()) == 1
    # And every acknowledged job was delivered, once, and no job was made that no client
    # heard of (a request cut off by the kill and retried did not schedule twice)
    assert set(delivered) == set(acknowledged)
    assert max(delivered.values()) == 1
