"""The pacer: when each send of a channel goes, so that the provider never sees more than the
limit in any second, and sees all of it while there is a backlog.

A sender asks for the slots of a group of its jobs at once (one Redis call, `store/pacing.py`):
each slot is a time on Redis's clock, spaced (1 s + margin) / N apart under a limit of N per
second, checked against the channel's limit and the workspace's tier together. Each send starts
before its slot (the lead: what making a connection has taken lately, plus the time a new
connection is given to settle, `NEW_CONNECTION_SETTLE_S`), and its provider holds the message
itself until the slot (`Release`): for HTTP the connection is made and the headers written, and
the body goes at the slot. A send that reaches its release later than a
few ms after its slot (a connection slower than the lead) does not go late: it takes a new slot
and waits for it, so no send ever arrives on top of the next second's.

A process takes slots no faster than it sends: while a send given a slot has not been released
by then (its CPU is busy, or its sends wait for room at the provider), the next group waits for
its turn, and the groups take their turns in the order they asked. Without that, a process that
sends slower than the limit would hold slots it misses, every send would take a new slot at the
back of the line, and the order the claims chose (the workspaces' fair turns) would be lost.

Our own mechanism, because what the product promises rules out the ones at hand:

* never more than N in *any* one-second window as the provider sees it: fixed windows (BullMQ's
  limiter) let up to 2N through across a boundary, N sends allowed at the start of each second
  meet the provider's jitter as N + 1, and a send granted on time but slow to connect arrives
  with the sends granted after it;
* used fully whatever the provider's latency: a limiter that holds a slot until the send
  completes (a token per request, or a log entry moved to the completion) gives N per
  (1 s + latency), 61% of the limit at 2.5 s; here a slot is a moment, and the provider's
  latency only sets how many sends are at it at once;
* one clock for every worker on every host (Redis TIME), where the `limits` library's moving
  window times itself with each host's clock;
* one Redis call for a group of sends, not a poll per send: Dramatiq's limiters raise and hand
  the message to its retries (15 s at least), and cannot pace a steady 50/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from queue_services_server.delivery.config import LATE_AFTER_MS, PACING_HORIZON_MS, ChannelConfig
from queue_services_server.delivery.providers.base import NEW_CONNECTION_SETTLE_S, Release
from queue_services_server.store.connection import StoreUnavailableError
from queue_services_server.store.pacing import PacingStore, Slots

#: Gives a send that missed its slot a new one: its time on this process's monotonic clock.
Reslot = Callable[[], Awaitable[float]]

#: Seconds of lead (for making a connection) before the first sends have shown what their
#: connections take: a process's first connections are its slowest (its HTTP client's set-up).
DEFAULT_LEAD_S = 0.05

#: Seconds between two looks at whether the sends given slots have caught up with them.
BEHIND_POLL_S = 0.005

#: The lead is worked out again after this many new samples (at every one before that many).
LEAD_EVERY_SAMPLES = 16

#: Answers of the pacing script whose timing is kept to map Redis's clock onto this process's.
CLOCK_SAMPLES = 32

#: Seconds: the least and the most lead a send gets for making its connection (before the time a
#: new connection is given to settle).
MIN_LEAD_S = 0.002
MAX_LEAD_S = 0.01


class ChannelPacer:
    """Gives the sends of one channel their slots, and a send that missed its slot another."""

    def __init__(self, store: PacingStore, config: ChannelConfig) -> None:
        self._store = store
        self._config = config
        #: Seconds from the start of recent sends to their release (connection and headers).
        self._ready_s: deque[float] = deque(maxlen=64)
        #: Samples taken so far, and at how many the lead was last worked out (and its value).
        self._ready_count = 0
        self._lead_samples = -1
        self._lead_s = DEFAULT_LEAD_S
        #: Sends that reached their release after their slot and took another.
        self.late_sends = 0
        #: Sends given a slot and not released yet: their slot (monotonic seconds).
        self._expected: dict[object, float] = {}
        #: Groups asking for slots wait here for their turn, first come first served.
        self._turns = asyncio.Lock()
        #: For recent answers: when it reached this process (monotonic s) less Redis's time in it.
        self._clock_offsets: deque[float] = deque(maxlen=CLOCK_SAMPLES)
        self._clock_offset = 0.0  # the smallest of them

    async def slots(
        self,
        batch_id: str,
        workspace_id: str,
        account: str,
        jobs: Sequence[tuple[str, int]],
        *,
        in_turn: bool = True,
    ) -> Slots:
        """Slots for `jobs` ((job id, due ms) of one batch), as far as the horizon allows: in
        turn (`in_turn`), once every send given a slot before has caught up with it; a late
        send's new slot (`in_turn=False`) does not wait, it is one of those."""
        if not in_turn:
            return await self._reserve(batch_id, workspace_id, account, jobs)
        async with self._turns:
            while self.behind():  # noqa: ASYNC110 (a poll: the slots pass by themselves)
                await asyncio.sleep(BEHIND_POLL_S)
            return await self._reserve(batch_id, workspace_id, account, jobs)

    def local_time(self, slot_ms: int, arrived: float) -> float:
        """When the slot `slot_ms` (Redis's clock) comes on this process's monotonic clock, for
        a slot of the answer that reached this process at `arrived`.

        Each answer reaches the process some time after Redis read its clock (the way back and a
        busy event loop: up to tens of ms), so `arrived - redis_now` overstates the offset
        between the clocks by that time, a different amount each call. Mapped with each
        answer's own figure, one group's slots would go later than another's by the
        difference, and two groups could land closer than the spacing (101 in a second at a
        limit of 100). The smallest figure of the recent answers is the one closest to the true
        offset, and the same for every group (`_reserve` takes one figure per answer)."""
        # A slot already past by then (the answer was slow to come back) goes at once: judged
        # late, its send would take a new slot, as slow to come back, again and again.
        return max(slot_ms / 1000 + self._clock_offset, arrived)

    def expect(self, send: object, at: float) -> None:
        """Count `send` as given the slot `at` (monotonic seconds) until `forget(send)`."""
        self._expected[send] = at

    def forget(self, send: object) -> None:
        """`send` was released, or ended without going: no longer waited for."""
        self._expected.pop(send, None)

    def behind(self) -> bool:
        """Whether a send's slot has passed without it being released."""
        now = time.monotonic()
        return any(at < now for at in self._expected.values())

    async def _reserve(
        self, batch_id: str, workspace_id: str, account: str, jobs: Sequence[tuple[str, int]]
    ) -> Slots:
        config = self._config
        given = await self._store.reserve(
            batch_id,
            workspace_id,
            account,
            jobs,
            channel_limit=config.rate_limit,
            window_ms=config.window_ms,
            horizon_ms=PACING_HORIZON_MS,
            burst=config.burst,
            # the time a send needs before its slot: the first slots of an idle channel would
            # otherwise come before it, and their sends, late, would take slots at the back
            lead_ms=math.ceil(self.lead_s() * 1000),
        )
        # one figure of the clocks' offset per answer (see `local_time`)
        self._clock_offsets.append(time.monotonic() - given.now_ms / 1000)
        self._clock_offset = min(self._clock_offsets)
        return given

    async def hold(self, workspace_id: str, account: str, seconds: float) -> None:
        """Hold back `account`'s sends for `seconds` (the provider answered 429)."""
        with contextlib.suppress(StoreUnavailableError):
            await self._store.hold(workspace_id, account, max(int(seconds * 1000), 1))

    def lead_s(self) -> float:
        """Seconds before its slot a send starts, so that its message is ready at the slot:
        twice what recent sends took from their start to their release (their connection and
        headers), within `MIN_LEAD_S` and `MAX_LEAD_S`, plus `NEW_CONNECTION_SETTLE_S`, so that
        a send that needs a new connection has it settled by its slot. A send on a connection
        kept open holds it that much longer (at 100/s, 10 more connections); one whose new
        connection is slow to make misses its slot and takes another, which the bound on the
        first part keeps rare without every send holding its connection idle for long."""
        return NEW_CONNECTION_SETTLE_S + self._connect_lead_s()

    def _connect_lead_s(self) -> float:
        if not self._ready_s:
            return DEFAULT_LEAD_S
        fresh = self._ready_count - self._lead_samples
        if fresh >= LEAD_EVERY_SAMPLES or (fresh and self._ready_count < LEAD_EVERY_SAMPLES):
            # the median of the last 64, worked out again every few samples: every send asks,
            # and sorting for each would cost more than the send itself
            typical = sorted(self._ready_s)[len(self._ready_s) // 2]
            self._lead_s = min(max(2 * typical, MIN_LEAD_S), MAX_LEAD_S)
            self._lead_samples = self._ready_count
        return self._lead_s

    def release(self, at: float, reslot: Reslot, *, paced: bool = True) -> Release:
        """The `Release` of a send whose slot is at `at` (this process's monotonic clock): it
        returns at the slot; reached too late for it, or woken too late by its sleep until it,
        it waits for the new slot `reslot` gives
        (raising what `reslot` raises when the job is no longer the batch's). Unless `paced`
        is False: with no limit to keep, a late send goes when it is ready. A send on a new
        connection goes no sooner than `NEW_CONNECTION_SETTLE_S` after it was made, so that a
        provider that reads new connections late still reads it at its slot."""
        started = time.monotonic()

        async def release(connected_at: float | None = None) -> None:
            now = time.monotonic()
            self._ready_s.append(now - started)
            self._ready_count += 1
            if paced and connected_at is not None and connected_at + NEW_CONNECTION_SETTLE_S > now:
                # not settled yet: a message written now might be read after later slots'
                await asyncio.sleep(connected_at + NEW_CONNECTION_SETTLE_S - now)
                now = time.monotonic()
            if not paced:
                if at > now:
                    await asyncio.sleep(at - now)
                return
            slot = at
            while True:
                if now > slot + LATE_AFTER_MS / 1000:
                    # Later than its slot (a connection slower than the lead, a busy process, a
                    # sleep that woke late because the event loop was held up): going now would
                    # land this message on the slots given after its own. It waits for a slot
                    # of its own again.
                    self.late_sends += 1
                    slot = await reslot()
                elif slot > now:
                    await asyncio.sleep(slot - now)
                else:
                    return
                now = time.monotonic()

        return release
