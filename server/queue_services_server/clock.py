"""The clock: the current wall-clock time as the server counts it.

One place, so that every module reads the same clock and a test can see where time comes from.
Times kept in Redis are milliseconds since the Unix epoch; signatures use whole seconds.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    """The current time in whole milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def now_s() -> int:
    """The current time in whole seconds since the Unix epoch."""
    return time.time_ns() // 1_000_000_000
