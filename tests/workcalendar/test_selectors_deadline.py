"""deadline_after and working_time_between on known dates: weekends, the 2026 Spring Festival, working hours, pauses.

Working hours are the default 08:30-12:00 and 13:30-17:30 (7.5 h a day). 2026-03-06 is a Friday; the Spring
Festival holiday runs 2026-02-15 (Sun) to 02-23 (Mon), with Saturdays 02-14 and 02-28 as make-up working days.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.workcalendar.conftest import bj
from workcalendar.models import CALENDAR_TIME_ZONE
from workcalendar.selectors import deadline_after, is_working_day, working_time_between
from workcalendar.units import TimeUnit

pytestmark = pytest.mark.django_db

HOURS, DAYS, WALL = TimeUnit.WORKING_HOURS, TimeUnit.WORKING_DAYS, TimeUnit.CALENDAR_HOURS


@pytest.mark.parametrize(
    ("start", "amount", "unit", "due"),
    [
        # across a weekend
        (bj(2026, 3, 6, 16), 4, HOURS, bj(2026, 3, 9, 11)),
        (bj(2026, 3, 6, 10), 2, DAYS, bj(2026, 3, 10, 10)),
        (bj(2026, 3, 7, 10), 1, HOURS, bj(2026, 3, 9, 9, 30)),  # reported on an ordinary Saturday
        # the Spring Festival and its make-up Saturdays
        (bj(2026, 2, 13, 10), 2, DAYS, bj(2026, 2, 24, 10)),  # Sat 02-14 at work, then nine days off
        (bj(2026, 2, 14, 15), 8, HOURS, bj(2026, 2, 24, 15, 30)),
        (bj(2026, 2, 27, 17), 1, HOURS, bj(2026, 2, 28, 9)),  # Saturday 02-28 is a working day
        (bj(2026, 2, 17, 10), 1, DAYS, bj(2026, 2, 24, 17, 30)),  # reported during the holiday
        (bj(2026, 2, 12, 9), 16, HOURS, bj(2026, 2, 14, 10)),  # 7 h Thu, 7.5 h Fri, 1.5 h on Sat 02-14
        # before and after working hours, and at lunch
        (bj(2026, 3, 9, 7), 1, HOURS, bj(2026, 3, 9, 9, 30)),
        (bj(2026, 3, 9, 18), 1, HOURS, bj(2026, 3, 10, 9, 30)),
        (bj(2026, 3, 9, 12, 30), 1, HOURS, bj(2026, 3, 9, 14, 30)),
        (bj(2026, 3, 9, 11, 30), 1, HOURS, bj(2026, 3, 9, 14)),  # the lunch break does not count
        # counts from 13:30; the day runs out at the same working moment next day, which begins at 12:00
        (bj(2026, 3, 9, 12, 30), 1, DAYS, bj(2026, 3, 10, 12)),
        (bj(2026, 3, 9, 18), 1, DAYS, bj(2026, 3, 10, 17, 30)),  # counts from Tuesday 08:30: the whole Tuesday
        # a limit that runs out at the end of a period is due then, not when the next period starts
        (bj(2026, 3, 9, 9), 3, HOURS, bj(2026, 3, 9, 12)),
        (bj(2026, 3, 6, 10), 1, DAYS, bj(2026, 3, 9, 10)),
    ],
)
def test_deadline_after_counts_working_time_on_the_2026_calendar(calendar_2026, start, amount, unit, due):
    deadline = deadline_after(start=start, amount=amount, unit=unit)

    assert deadline == due
    assert working_time_between(start=start, end=deadline, unit=unit) == amount


def test_a_working_day_is_the_working_time_of_one_day():
    start = bj(2026, 3, 4, 10, 15)

    assert deadline_after(start=start, amount=3, unit=DAYS) == bj(2026, 3, 9, 10, 15)
    assert deadline_after(start=start, amount=22, unit=HOURS) == bj(2026, 3, 9, 9, 45)  # 22.5 h would be 10:15
    assert working_time_between(start=start, end=bj(2026, 3, 5, 10, 15), unit=DAYS) == 1.0
    assert working_time_between(start=bj(2026, 3, 9, 8, 30), end=bj(2026, 3, 9, 12), unit=DAYS) == pytest.approx(
        3.5 / 7.5
    )


def test_calendar_hours_ignore_the_calendar(calendar_2026):
    start = bj(2026, 2, 14, 20)

    assert deadline_after(start=start, amount=72, unit=WALL) == bj(2026, 2, 17, 20)
    assert working_time_between(start=start, end=bj(2026, 2, 17, 21, 30), unit=WALL) == 73.5
    # After hours on the make-up Saturday, then the holiday: no working time at all.
    assert working_time_between(start=start, end=bj(2026, 2, 17, 21, 30), unit=HOURS) == 0


def test_a_pause_spanning_a_weekend_does_not_count(calendar_2026):
    start = bj(2026, 3, 5, 10)  # Thursday; 16 working hours would be due Monday 11:00
    on_hold = [(bj(2026, 3, 6, 12), bj(2026, 3, 10, 9, 30))]  # Friday noon to Tuesday 09:30

    deadline = deadline_after(start=start, amount=16, unit=HOURS, pauses=on_hold)

    assert deadline_after(start=start, amount=16, unit=HOURS) == bj(2026, 3, 9, 11)
    assert deadline == bj(2026, 3, 10, 17, 30)  # 9.5 h before the pause, 6.5 h after it
    assert working_time_between(start=start, end=deadline, unit=HOURS, pauses=on_hold) == 16
    assert working_time_between(start=start, end=bj(2026, 3, 9, 11), unit=HOURS, pauses=on_hold) == 9.5


def test_a_pause_under_calendar_hours_adds_its_wall_clock_length(calendar_2026):
    start = bj(2026, 3, 6, 20)
    weekend = [(bj(2026, 3, 7), bj(2026, 3, 9))]

    assert deadline_after(start=start, amount=24, unit=WALL, pauses=weekend) == bj(2026, 3, 9, 20)


def test_calendar_minutes_ignore_the_calendar_like_calendar_hours(calendar_2026):
    # An emergency reported late on the Spring Festival's Tuesday: 30 minutes is 30 minutes, holiday or not.
    start = bj(2026, 2, 17, 23, 50)

    assert deadline_after(start=start, amount=30, unit=TimeUnit.CALENDAR_MINUTES) == bj(2026, 2, 18, 0, 20)
    assert deadline_after(start=start, amount=120, unit=TimeUnit.CALENDAR_MINUTES) == deadline_after(
        start=start, amount=2, unit=WALL
    )
    assert working_time_between(start=start, end=bj(2026, 2, 18, 0, 14), unit=TimeUnit.CALENDAR_MINUTES) == 24
    # A pause (an extension pending) adds its wall-clock length, as for calendar hours.
    pending = [(bj(2026, 2, 18, 0), bj(2026, 2, 18, 0, 45))]
    assert deadline_after(start=start, amount=30, unit=TimeUnit.CALENDAR_MINUTES, pauses=pending) == bj(
        2026, 2, 18, 1, 5
    )


@pytest.mark.parametrize(
    ("start", "amount", "due"),
    [
        (bj(2026, 3, 9, 10), 30, bj(2026, 3, 9, 10, 30)),
        (bj(2026, 3, 9, 11, 45), 30, bj(2026, 3, 9, 13, 45)),  # 15 before lunch, 15 after
        (bj(2026, 3, 6, 17, 15), 30, bj(2026, 3, 9, 8, 45)),  # Friday evening to Monday morning
        (bj(2026, 2, 13, 17, 20), 30, bj(2026, 2, 14, 8, 50)),  # into the make-up Saturday
        (bj(2026, 3, 9, 12, 30), 1, bj(2026, 3, 9, 13, 31)),  # at lunch: counts from 13:30
    ],
)
def test_working_minutes_count_working_time_like_working_hours(calendar_2026, start, amount, due):
    deadline = deadline_after(start=start, amount=amount, unit=TimeUnit.WORKING_MINUTES)

    assert deadline == due
    assert working_time_between(start=start, end=deadline, unit=TimeUnit.WORKING_MINUTES) == amount
    assert deadline_after(start=start, amount=60 * amount, unit=TimeUnit.WORKING_MINUTES) == deadline_after(
        start=start, amount=amount, unit=HOURS
    )


def test_overlapping_pauses_count_once_and_a_pause_before_the_start_only_delays_it(calendar_2026):
    start = bj(2026, 3, 9, 10)
    overlapping = [(bj(2026, 3, 9, 14), bj(2026, 3, 9, 16)), (bj(2026, 3, 9, 15), bj(2026, 3, 9, 17))]
    merged = [(bj(2026, 3, 9, 14), bj(2026, 3, 9, 17))]
    begun_before = [(bj(2026, 3, 8), bj(2026, 3, 9, 14))]
    over_before = [(bj(2026, 3, 2), bj(2026, 3, 3))]

    assert deadline_after(start=start, amount=4, unit=HOURS, pauses=overlapping) == deadline_after(
        start=start, amount=4, unit=HOURS, pauses=merged
    )
    # 2.5 h before the pause, 0.5 h after it on Monday, 1 h on Tuesday.
    assert deadline_after(start=start, amount=4, unit=HOURS, pauses=merged) == bj(2026, 3, 10, 9, 30)
    assert deadline_after(start=start, amount=1, unit=HOURS, pauses=begun_before) == bj(2026, 3, 9, 15)
    assert deadline_after(start=start, amount=1, unit=HOURS, pauses=over_before) == bj(2026, 3, 9, 11)


def test_a_time_zone_other_than_beijing_gives_the_same_instant_and_results_are_in_beijing_time(calendar_2026):
    start_utc = dt.datetime(2026, 3, 6, 8, tzinfo=dt.UTC)  # 16:00 in Beijing

    deadline = deadline_after(start=start_utc, amount=4, unit=HOURS)

    assert deadline == bj(2026, 3, 9, 11)
    assert deadline.tzinfo == CALENDAR_TIME_ZONE


def test_working_time_between_is_negative_when_the_end_comes_first(calendar_2026):
    assert working_time_between(start=bj(2026, 3, 9, 11), end=bj(2026, 3, 6, 16), unit=HOURS) == -4


def test_a_zero_limit_is_due_at_once():
    start = bj(2026, 3, 7, 10)

    assert deadline_after(start=start, amount=0, unit=HOURS) == start


@pytest.mark.parametrize("naive", ["start", "end", "pause"])
def test_naive_datetimes_are_refused(naive):
    aware = bj(2026, 3, 9, 10)
    values = {"start": aware, "end": aware + dt.timedelta(hours=1), "pause": aware}
    values[naive] = values[naive].replace(tzinfo=None)
    pauses = [(values["pause"], aware + dt.timedelta(hours=2))]

    with pytest.raises(ValueError, match="timezone-aware"):
        working_time_between(start=values["start"], end=values["end"], unit=HOURS, pauses=pauses)
    if naive != "end":
        with pytest.raises(ValueError, match="timezone-aware"):
            deadline_after(start=values["start"], amount=1, unit=HOURS, pauses=pauses)


def test_a_negative_limit_an_unknown_unit_and_a_reversed_pause_are_refused():
    start = bj(2026, 3, 9, 10)

    with pytest.raises(ValueError, match="negative"):
        deadline_after(start=start, amount=-1, unit=HOURS)
    with pytest.raises(ValueError, match="unknown time unit"):
        deadline_after(start=start, amount=1, unit="fortnights")
    with pytest.raises(ValueError, match="ends before it starts"):
        deadline_after(start=start, amount=1, unit=HOURS, pauses=[(bj(2026, 3, 9, 12), bj(2026, 3, 9, 11))])


def test_a_year_not_loaded_counts_monday_to_friday_and_never_crashes(calendar_2026):
    # 2031-01-01 is a Wednesday: a public holiday in reality, but 2031 is not loaded.
    assert deadline_after(start=bj(2031, 1, 1, 10), amount=1, unit=HOURS) == bj(2031, 1, 1, 11)
    assert deadline_after(start=bj(2031, 1, 3, 16), amount=4, unit=HOURS) == bj(2031, 1, 6, 11)
    # Far outside the years built up front, in both directions.
    assert deadline_after(start=bj(2100, 1, 1, 16), amount=4, unit=HOURS) == bj(2100, 1, 4, 11)
    assert deadline_after(start=bj(1999, 12, 31, 16), amount=2, unit=DAYS) == bj(2000, 1, 4, 16)
    assert not is_working_day(day=dt.date(2031, 1, 4)) and is_working_day(day=dt.date(2031, 1, 1))


def test_dates_outside_the_supported_years_are_refused_rather_than_built():
    with pytest.raises(ValueError, match="between 1900 and 2200"):
        deadline_after(start=bj(1, 1, 3, 10), amount=1, unit=HOURS)
    with pytest.raises(ValueError, match="between 1900 and 2200"):
        deadline_after(start=bj(2026, 3, 9, 10), amount=10_000_000, unit=DAYS)


def test_a_limit_running_past_the_years_built_up_front_is_still_exact(calendar_2026):
    start = bj(2026, 3, 9, 10)

    deadline = deadline_after(start=start, amount=40_000, unit=HOURS)

    assert deadline.year > 2040  # about 5,333 working days on
    assert working_time_between(start=start, end=deadline, unit=HOURS) == 40_000


def test_is_working_day_follows_the_calendar(calendar_2026):
    assert is_working_day(day=dt.date(2026, 2, 14))  # make-up Saturday
    assert not is_working_day(day=dt.date(2026, 2, 16))  # Spring Festival Monday
    assert not is_working_day(day=dt.date(2026, 3, 7))  # ordinary Saturday
    assert is_working_day(day=dt.date(2026, 3, 9))
