"""Loading the Lua scripts of `store/scripts/`: the only place scripts are read and registered.

Each script is sent with `_common.lua` (helpers every status-changing script uses) in front of
it, so a script can call `notify` and `backlog` without repeating them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript


@cache
def script_source(name: str) -> str:
    """The source of `store/scripts/<name>` as sent to Redis, `_common.lua` first."""
    scripts = resources.files("queue_services_server.store").joinpath("scripts")
    common = scripts.joinpath("_common.lua").read_text()
    return common + "\n" + scripts.joinpath(name).read_text()


def load_script(redis: aioredis.Redis, name: str) -> AsyncScript:
    """Register the script `store/scripts/<name>` with a client (sent on first use, by SHA
    after that; reloaded by redis-py if Redis lost it)."""
    return redis.register_script(script_source(name))
