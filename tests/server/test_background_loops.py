"""The worker's background loops (dispatchers, callbacks, retention) outlive a Redis that is
away when they start: they wait for it and go on, instead of ending for the life of the worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

from queue_services_server.delivery.callbacks import CallbackSender
from queue_services_server.delivery.retention import RetentionSweeper
from queue_services_server.dev import EmbeddedRedis, free_port
from queue_services_server.store.callbacks import GROUP
from queue_services_server.store.connection import connect
from queue_services_server.store.keys import KeySpace
from tests.harness import wait_until_async

KEYS = KeySpace("qs")


async def test_callbacks_and_retention_wait_for_a_redis_that_is_away_at_start(
    tmp_path: Path,
) -> None:
    # Given the loops started against a port where Redis is not yet listening
    port = free_port()
    client = connect(f"redis://127.0.0.1:{port}/0")
    callbacks = CallbackSender(client, KEYS, None, max_attempts=3)
    retention = RetentionSweeper(client, KEYS, 3600, interval_s=0.2)
    tasks = [asyncio.create_task(callbacks.run()), asyncio.create_task(retention.run())]
    try:
        await asyncio.sleep(1.5)
        assert not any(task.done() for task in tasks)

        # When Redis comes up on that port
        with EmbeddedRedis(tmp_path / "redis", port=port):
            groups: list[dict[str, object]] = []
            token = None

            async def both_took_their_turn() -> bool:
                nonlocal groups, token
                if await client.exists(KEYS.callbacks()):
                    groups = await client.xinfo_groups(KEYS.callbacks())
                token = await client.get(KEYS.retention_sweep())
                return bool(groups and token)

            await wait_until_async(
                both_took_their_turn,
                timeout_s=10,
                interval_s=0.1,
                message=lambda: f"callback groups {groups}, retention token {token!r}",
            )

            # Then the callback sender made its consumer group and the sweeper took its turn
            assert [group["name"] for group in groups] == [GROUP.encode()]
            assert token is not None
            callbacks.stop()
            retention.stop()
            await asyncio.wait_for(asyncio.gather(*tasks), 10)
    finally:
        for task in tasks:
            task.cancel()
        await client.aclose()
        await callbacks.aclose()
