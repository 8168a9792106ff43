"""When to send: "day N at HH:MM in time zone Z", kept out of quiet hours, as an aware UTC time.

Daylight-saving rules (the ones `zoneinfo` and java.time follow):

* a local time that does not exist (clocks jump forward: 02:30 on the spring-forward night in New
  York) is shifted forward by the length of the gap: 02:30 becomes 03:30;
* a local time that happens twice (clocks go back) means its first occurrence.

Day numbers count calendar days in the zone, not 24-hour steps: "day 1 at 09:00" is 09:00
tomorrow local time even when tonight is 23 or 25 hours long.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from queue_services._exceptions import InvalidSendTimeError

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")

#: A time of day: a `datetime.time` or "HH:MM" / "HH:MM:SS".
TimeOfDay = time | str


def _time_of_day(value: TimeOfDay, what: str) -> time:
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise InvalidSendTimeError(f"{what} must be a wall-clock time without a time zone")
        return value
    match = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidSendTimeError(f"{what} must be 'HH:MM' or 'HH:MM:SS', not {value!r}")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    if hours > 23 or minutes > 59 or seconds > 59:
        raise InvalidSendTimeError(f"{what} {value!r} is not a time of day")
    return time(hours, minutes, seconds)


def _zone(value: str | tzinfo) -> tzinfo:
    if isinstance(value, tzinfo):
        return value
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSendTimeError(
            f"unknown time zone {value!r}: use an IANA name such as 'America/New_York'"
        ) from None


@dataclass(frozen=True)
class QuietHours:
    """A daily window, in local time, when nothing is sent; it may cross midnight.

    Example:
        >>> QuietHours("21:00", "08:00")  # nights: 21:00 to 08:00 the next morning
        QuietHours(start=datetime.time(21, 0), end=datetime.time(8, 0))
    """

    start: time
    end: time

    def __init__(self, start: TimeOfDay, end: TimeOfDay) -> None:
        object.__setattr__(self, "start", _time_of_day(start, "quiet hours start"))
        object.__setattr__(self, "end", _time_of_day(end, "quiet hours end"))
        if self.start == self.end:
            raise InvalidSendTimeError("quiet hours must not start and end at the same time")

    def contains(self, moment: time) -> bool:
        """Whether a wall-clock time falls inside the window (start included, end not)."""
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def end_after(self, local: datetime) -> tuple[date, time]:
        """The date and time the window that holds `local` ends."""
        if self.start > self.end and local.time() >= self.start:
            return local.date() + timedelta(days=1), self.end
        return local.date(), self.end


def _quiet(value: QuietHours | tuple[TimeOfDay, TimeOfDay] | None) -> QuietHours | None:
    if value is None or isinstance(value, QuietHours):
        return value
    start, end = value
    return QuietHours(start, end)


def _at(day: date, clock: time, zone: tzinfo) -> datetime:
    # fold=0: the first of two occurrences; for a time in a gap, zoneinfo applies the offset from
    # before the gap, which lands the instant after the gap by its length (02:30 -> 03:30).
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def calculate_send_at(
    day_number: int,
    send_time: TimeOfDay,
    timezone: str | tzinfo,
    *,
    now: datetime | None = None,
    quiet_hours: QuietHours | tuple[TimeOfDay, TimeOfDay] | None = None,
) -> datetime:
    """The instant to send "day `day_number` at `send_time` in `timezone`".

    Args:
        day_number: calendar days from today in `timezone` (0 = today, 1 = tomorrow, ...).
        send_time: the local wall-clock time, ``"09:30"``, ``"09:30:15"`` or a `datetime.time`.
        timezone: an IANA zone name (``"Europe/London"``) or a `tzinfo` (`ZoneInfo`).
        now: the current instant, an aware datetime (default: the clock); for tests.
        quiet_hours: a local window when nothing is sent, `QuietHours` or a ``(start, end)``
            pair; a send time inside it moves to its end.

    Returns:
        An aware datetime in UTC, never before `now`. If day 0's time has already passed, the
        send moves to the same local time the next day.

    Raises:
        InvalidSendTimeError: a negative day, a malformed time, an unknown zone, a naive `now`.

    Example:
        >>> calculate_send_at(1, "09:30", "America/New_York",
        ...                   now=datetime(2026, 3, 7, 20, 0, tzinfo=UTC))
        datetime.datetime(2026, 3, 8, 13, 30, tzinfo=datetime.timezone.utc)
    """
    if isinstance(day_number, bool) or not isinstance(day_number, int) or day_number < 0:
        raise InvalidSendTimeError(f"day_number must be a whole number >= 0, not {day_number!r}")
    clock = _time_of_day(send_time, "send_time")
    zone = _zone(timezone)
    window = _quiet(quiet_hours)
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise InvalidSendTimeError("now must be an aware datetime, e.g. datetime.now(UTC)")
    today = now.astimezone(zone).date()
    day = today + timedelta(days=day_number)
    send_at = _at(day, clock, zone)
    if send_at <= now:
        # Only day 0 can be in the past: the same local time tomorrow (not now + 24 h).
        day += timedelta(days=1)
        send_at = _at(day, clock, zone)
    if window is not None:
        local = send_at.astimezone(zone)
        if window.contains(local.time().replace(tzinfo=None)):
            end_day, end_clock = window.end_after(local.replace(tzinfo=None))
            send_at = _at(end_day, end_clock, zone)
    return send_at


def calculate_delay_ms(
    day_number: int,
    send_time: TimeOfDay,
    timezone: str | tzinfo,
    *,
    now: datetime | None = None,
    quiet_hours: QuietHours | tuple[TimeOfDay, TimeOfDay] | None = None,
) -> int:
    """Milliseconds from `now` to `calculate_send_at(...)`, as the Node service's
    ``calculateDelayMs`` gave them.

    Same arguments as `calculate_send_at`. Prefer passing ``send_at=calculate_send_at(...)`` to
    the schedule calls: a delay is relative to when the server receives it.
    """
    if now is None:
        now = datetime.now(UTC)
    send_at = calculate_send_at(day_number, send_time, timezone, now=now, quiet_hours=quiet_hours)
    return max(0, (send_at - now) // timedelta(milliseconds=1))
