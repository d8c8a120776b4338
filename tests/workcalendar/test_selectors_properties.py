"""Properties of the working-time arithmetic over random starts (fixed seed), and a minute-by-minute oracle."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from tests.workcalendar.conftest import bj
from workcalendar.models import CalendarDay
from workcalendar.selectors import deadline_after, working_time_between
from workcalendar.timeline import DEFAULT_PERIODS
from workcalendar.units import CALENDAR_UNITS, TimeUnit

pytestmark = pytest.mark.django_db

SEED = 20260214
ONE_US = dt.timedelta(microseconds=1)
MINUTE = dt.timedelta(minutes=1)
FIRST, LAST = bj(2025, 12, 1), bj(2027, 2, 1)  # around loaded 2026, into the years that are not loaded
# Minutes of (working or wall-clock) time in one unit, for the minute-by-minute oracle.
UNIT_MINUTES = {
    TimeUnit.WORKING_MINUTES: 1,
    TimeUnit.WORKING_HOURS: 60,
    TimeUnit.WORKING_DAYS: 450,
    TimeUnit.CALENDAR_MINUTES: 1,
    TimeUnit.CALENDAR_HOURS: 60,
}


def _random_start(rng: random.Random, *, whole_minutes: bool = False) -> dt.datetime:
    span = int((LAST - FIRST).total_seconds())
    start = FIRST + dt.timedelta(seconds=rng.randrange(span))
    if whole_minutes:
        return start.replace(second=0)
    return start + dt.timedelta(microseconds=rng.randrange(1_000_000))


def _random_pauses(rng: random.Random, start: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    pauses = []
    for _ in range(rng.randrange(3)):
        pause_start = start + dt.timedelta(minutes=rng.randrange(-2 * 24 * 60, 10 * 24 * 60))
        pauses.append((pause_start, pause_start + dt.timedelta(minutes=rng.randrange(1, 4 * 24 * 60))))
    return pauses


def _random_limit(rng: random.Random) -> tuple[int, str]:
    unit = rng.choice(list(TimeUnit))
    return (rng.randrange(1, 11) if unit == TimeUnit.WORKING_DAYS else rng.randrange(1, 49)), unit


def test_working_time_between_inverts_deadline_after_and_the_deadline_is_the_earliest_moment(calendar_2026):
    rng = random.Random(SEED)
    for _ in range(2000):
        start = _random_start(rng)
        amount, unit = _random_limit(rng)
        pauses = _random_pauses(rng, start)

        deadline = deadline_after(start=start, amount=amount, unit=unit, pauses=pauses)

        case = (start, amount, unit, pauses)
        assert deadline > start, case
        assert working_time_between(start=start, end=deadline, unit=unit, pauses=pauses) == amount, case
        assert working_time_between(start=start, end=deadline - ONE_US, unit=unit, pauses=pauses) < amount, case
        assert not any(pause_start < deadline < pause_end for pause_start, pause_end in pauses), case


def test_deadline_after_agrees_with_counting_minute_by_minute(calendar_2026):
    """An independent oracle: walk the clock a minute at a time, counting the minutes that are working time."""
    working = dict(CalendarDay.objects.values_list("date", "is_working_day"))
    periods = [(start.hour * 60 + start.minute, end.hour * 60 + end.minute) for start, end in DEFAULT_PERIODS]

    def counts(minute: dt.datetime, unit: str, pauses: list[tuple[dt.datetime, dt.datetime]]) -> bool:
        if any(pause_start <= minute < pause_end for pause_start, pause_end in pauses):
            return False
        if unit in CALENDAR_UNITS:
            return True
        if not working.get(minute.date(), minute.weekday() < 5):
            return False
        of_day = minute.hour * 60 + minute.minute
        return any(start <= of_day < end for start, end in periods)

    rng = random.Random(SEED + 1)
    for _ in range(150):
        start = _random_start(rng, whole_minutes=True)
        amount, unit = _random_limit(rng)
        amount = min(amount, 2) if unit == TimeUnit.WORKING_DAYS else min(amount, 16)
        pauses = [(a.replace(second=0), b.replace(second=0)) for a, b in _random_pauses(rng, start)]
        needed = amount * UNIT_MINUTES[unit]
        minute, counted = start, 0
        while counted < needed:
            counted += counts(minute, unit, pauses)
            minute += MINUTE

        assert deadline_after(start=start, amount=amount, unit=unit, pauses=pauses) == minute, (
            start,
            amount,
            unit,
            pauses,
        )


def test_more_time_is_never_due_earlier(calendar_2026):
    rng = random.Random(SEED + 2)
    for _ in range(300):
        start = _random_start(rng)
        unit = rng.choice(list(TimeUnit))
        deadlines = [deadline_after(start=start, amount=amount, unit=unit) for amount in range(1, 12)]
        assert deadlines == sorted(deadlines) and len(set(deadlines)) == len(deadlines), (start, unit)
