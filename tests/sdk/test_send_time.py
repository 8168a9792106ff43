"""calculate_send_at / calculate_delay_ms: time zones, daylight saving, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from queue_services import InvalidSendTimeError, QuietHours, calculate_delay_ms, calculate_send_at

NY, LONDON, SYDNEY = (
    ZoneInfo("America/New_York"),
    ZoneInfo("Europe/London"),
    ZoneInfo("Australia/Sydney"),
)
KOLKATA, TOKYO = ZoneInfo("Asia/Kolkata"), ZoneInfo("Asia/Tokyo")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


@pytest.mark.parametrize(
    ("now", "day", "clock", "zone", "expected_local"),
    [
        # New York, spring forward 2026-03-08 02:00 -> 03:00
        (utc(2026, 3, 7, 20), 1, "09:30", NY, "2026-03-08 09:30:00 EDT"),
        (utc(2026, 3, 7, 20), 1, "02:30", NY, "2026-03-08 03:30:00 EDT"),  # in the gap: +1 h
        (utc(2026, 3, 7, 20), 0, "23:00", NY, "2026-03-07 23:00:00 EST"),
        # New York, fall back 2026-11-01 02:00 -> 01:00: 01:30 happens twice, the first wins
        (utc(2026, 10, 31, 20), 1, "01:30", NY, "2026-11-01 01:30:00 EDT"),
        (utc(2026, 10, 31, 20), 2, "09:00", NY, "2026-11-02 09:00:00 EST"),
        # London, spring forward 2026-03-29 01:00 -> 02:00; fall back 2026-10-25 02:00 -> 01:00
        (utc(2026, 3, 28, 12), 1, "01:15", LONDON, "2026-03-29 02:15:00 BST"),
        (utc(2026, 3, 28, 12), 1, "09:00", LONDON, "2026-03-29 09:00:00 BST"),
        (utc(2026, 10, 24, 12), 1, "01:30", LONDON, "2026-10-25 01:30:00 BST"),
        (utc(2026, 10, 24, 12), 1, "09:00", LONDON, "2026-10-25 09:00:00 GMT"),
        # Sydney (southern hemisphere): DST ends 2026-04-05 03:00 -> 02:00, starts 2026-10-04
        (utc(2026, 4, 4, 0), 1, "02:30", SYDNEY, "2026-04-05 02:30:00 AEDT"),
        (utc(2026, 10, 3, 0), 1, "02:30", SYDNEY, "2026-10-04 03:30:00 AEDT"),
        # Kolkata: a half-hour offset, no DST; Tokyo: no DST
        (utc(2026, 6, 1, 0), 3, "09:30", KOLKATA, "2026-06-04 09:30:00 IST"),
        (utc(2026, 6, 1, 0), 0, "18:00:15", TOKYO, "2026-06-01 18:00:15 JST"),
    ],
)
def test_day_and_time_in_a_zone(
    now: datetime, day: int, clock: str, zone: ZoneInfo, expected_local: str
) -> None:
    send_at = calculate_send_at(day, clock, zone, now=now)

    assert send_at.tzinfo is UTC
    assert local(send_at, zone) == expected_local


def test_day_numbers_are_calendar_days_not_24_hour_steps() -> None:
    # Given 20:00 in New York the evening before the spring-forward night (a 23-hour day)
    now = datetime(2026, 3, 7, 20, 0, tzinfo=NY)

    send_at = calculate_send_at(1, "20:00", NY, now=now)

    assert local(send_at, NY) == "2026-03-08 20:00:00 EDT"
    assert send_at - now == timedelta(hours=23)


def test_day_zero_already_passed_moves_to_tomorrow_same_local_time() -> None:
    now = datetime(2026, 10, 31, 22, 0, tzinfo=NY)  # the evening before fall back

    send_at = calculate_send_at(0, "09:00", NY, now=now)

    assert local(send_at, NY) == "2026-11-01 09:00:00 EST"  # 25 hours later, not 24


@pytest.mark.parametrize(
    ("clock", "quiet", "expected_local"),
    [
        ("22:30", QuietHours("21:00", "08:00"), "2026-06-03 08:00:00 BST"),  # across midnight
        ("06:00", ("21:00", "08:00"), "2026-06-02 08:00:00 BST"),
        ("08:00", (time(21), time(8)), "2026-06-02 08:00:00 BST"),  # the end is allowed
        ("20:59", ("21:00", "08:00"), "2026-06-02 20:59:00 BST"),
        ("13:00", ("12:00", "14:00"), "2026-06-02 14:00:00 BST"),  # a daytime window
    ],
)
def test_quiet_hours_move_the_send_to_their_end(
    clock: str, quiet: QuietHours | tuple[object, object], expected_local: str
) -> None:
    now = datetime(2026, 6, 1, 10, 0, tzinfo=LONDON)

    send_at = calculate_send_at(1, clock, LONDON, now=now, quiet_hours=quiet)  # type: ignore[arg-type]

    assert local(send_at, LONDON) == expected_local


def test_delay_ms_counts_from_now() -> None:
    now = utc(2026, 6, 1, 8, 0)

    assert calculate_delay_ms(0, "09:00:00", "UTC", now=now) == 3_600_000
    assert calculate_delay_ms(1, "08:00", "UTC", now=now) == 86_400_000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"send_time": "25:00"}, "not a time of day"),
        ({"send_time": "9.30"}, "HH:MM"),
        ({"day_number": -1}, "day_number"),
        ({"now": datetime(2026, 1, 1)}, "aware"),
        ({"quiet_hours": ("21:00", "21:00")}, "same time"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "day_number": 1,
        "send_time": "09:00",
        "timezone": "UTC",
        **kwargs,
    }
    with pytest.raises(InvalidSendTimeError, match=message) as caught:
        calculate_send_at(  # type: ignore[misc]
            arguments.pop("day_number"), arguments.pop("send_time"), arguments.pop("timezone"),
            **arguments,
        )  # fmt: skip
    assert isinstance(caught.value, ValueError)


ZONES = [NY, LONDON, SYDNEY, KOLKATA, TOKYO, ZoneInfo("UTC"), ZoneInfo("America/Sao_Paulo")]


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    day=st.integers(min_value=0, max_value=400),
    clock=st.times(),
    zone=st.sampled_from(ZONES),
)
def test_never_in_the_past_and_at_the_wall_time_when_it_exists(
    now: datetime, day: int, clock: time, zone: ZoneInfo
) -> None:
    clock = clock.replace(microsecond=0)

    send_at = calculate_send_at(day, clock, zone, now=now)

    assert send_at > now
    wall = send_at.astimezone(zone)
    wanted = datetime.combine(wall.date(), clock, tzinfo=zone)
    exists = wanted.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wanted.replace(
        tzinfo=None
    )
    if exists:
        assert wall.time() == clock
    expected_day = now.astimezone(zone).date() + timedelta(days=day)
    assert wall.date() in (expected_day, expected_day + timedelta(days=1))


@settings(max_examples=200, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    clock=st.times(),
    zone=st.sampled_from(ZONES),
)
def test_never_inside_quiet_hours(now: datetime, clock: time, zone: ZoneInfo) -> None:
    quiet = QuietHours("21:00", "08:00")

    send_at = calculate_send_at(0, clock.replace(microsecond=0), zone, now=now, quiet_hours=quiet)

    assert send_at > now
    assert not quiet.contains(send_at.astimezone(zone).time())
