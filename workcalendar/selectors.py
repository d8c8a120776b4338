"""Working-time arithmetic for time limits: when a limit runs out, and how much of it has been used.

Conventions (the SLA clock and its tests rely on them):
- Datetimes must be timezone-aware (ValueError otherwise); results are in Beijing time (Asia/Shanghai).
- working_hours counts only time inside the working periods of working days (by default 08:30-12:00 and
  13:30-17:30; weekends and public holidays are off, make-up working days are on). A start outside working
  hours counts from the next working moment.
- working_days is measured on the same working-time line, one working day being the working time of one day
  (7.5 h by default). So a case reported at 10:00 on a working day with a 2-working-day limit is due at 10:00
  on the second working day after; reported outside working hours (evening, weekend, lunch) it counts from
  the next working moment, so a 1-working-day limit reported on Saturday is due Monday at 17:30.
- A limit that runs out exactly at the end of a working period is due at that end (12:00, 17:30), not at
  the next period's start: so 1 working day from 12:30 (lunch, counted from 13:30) is due at 12:00 next day.
- working_minutes is measured on the same line as working_hours (a sixtieth of one).
- calendar_hours and calendar_minutes are wall-clock time and ignore the calendar.
- `pauses` (on hold, extension pending) are [start, end) intervals that do not count; they may overlap
  each other and the start.
- Days missing from the calendar table (a year not loaded) count as Monday-Friday working days.
- The active working hours apply to every day, past and future. Edits reach every process within
  timeline.CHECK_EVERY (1 s); nothing here queries the database except the rebuild after an edit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TypeVar

from workcalendar.timeline import (
    HOUR_US,
    MINUTE_US,
    OutsideTimeline,
    Timeline,
    current_timeline,
    from_us,
    is_working,
    timeline_extend,
    to_us,
)
from workcalendar.units import TimeUnit

Pause = tuple[dt.datetime, dt.datetime]
T = TypeVar("T")
_UNITS = frozenset(TimeUnit.values)  # TimeUnit.values builds a list on every access: too slow per call
# The length of one unit in µs: fixed for the wall-clock units and the working minute and hour; a working
# day's length depends on the active working hours, so it is read from the timeline.
_WALL_UNIT_US = {TimeUnit.CALENDAR_HOURS.value: HOUR_US, TimeUnit.CALENDAR_MINUTES.value: MINUTE_US}
_WORKING_US = {TimeUnit.WORKING_MINUTES.value: MINUTE_US, TimeUnit.WORKING_HOURS.value: HOUR_US}
_MAX_EXTENSIONS = 20  # each round covers at least one more year; no real limit needs more


def deadline_after(*, start: dt.datetime, amount: int, unit: str, pauses: Sequence[Pause] = ()) -> dt.datetime:
    """The moment a limit of `amount` `unit`s started at `start` runs out, not counting `pauses`."""
    _require_aware("start", start)
    if amount < 0:
        raise ValueError(f"a time limit cannot be negative ({amount})")
    _require_unit(unit)
    start_us = to_us(start)
    if amount == 0:
        return from_us(start_us)
    merged = _merged_pauses(pauses, since=start_us)
    if unit in _WALL_UNIT_US:
        return from_us(_walk(start_us, amount * _WALL_UNIT_US[unit], merged, _wall, _wall))
    return from_us(
        _on_timeline(lambda tl: _walk(start_us, amount * _unit_us(unit, tl), merged, tl.position, tl.instant))
    )


def working_time_between(*, start: dt.datetime, end: dt.datetime, unit: str, pauses: Sequence[Pause] = ()) -> float:
    """Time elapsed from `start` to `end` in `unit`, not counting `pauses` (negative if `end` is before `start`)."""
    _require_aware("start", start)
    _require_aware("end", end)
    _require_unit(unit)
    start_us, end_us = to_us(start), to_us(end)
    if end_us < start_us:
        return -working_time_between(start=end, end=start, unit=unit, pauses=pauses)
    merged = _merged_pauses(pauses, since=start_us)
    if unit in _WALL_UNIT_US:
        return _elapsed(start_us, end_us, merged, _wall) / _WALL_UNIT_US[unit]
    return _on_timeline(lambda tl: _elapsed(start_us, end_us, merged, tl.position) / _unit_us(unit, tl))


def is_working_day(*, day: dt.date) -> bool:
    """Whether `day` is a working day (from the calendar table; a day not loaded: Monday to Friday)."""
    return is_working(current_timeline().days, day)


# --- the arithmetic: one walk along a position function, for the working-time line or the wall clock


def _walk(
    start: int,
    need: int,
    pauses: list[tuple[int, int]],
    position: Callable[[int], int],
    instant: Callable[[int], int],
) -> int:
    """The earliest instant at which `need` of position has passed since `start`, skipping the pauses."""
    cursor = position(start)
    remaining = need
    for pause_start, pause_end in pauses:
        available = position(max(pause_start, start)) - cursor
        if remaining <= available:
            break
        remaining -= available
        cursor = position(pause_end)
    return instant(cursor + remaining)


def _elapsed(start: int, end: int, pauses: list[tuple[int, int]], position: Callable[[int], int]) -> int:
    total = position(end) - position(start)
    for pause_start, pause_end in pauses:
        if pause_start >= end:
            break
        total -= position(min(pause_end, end)) - position(max(pause_start, start))
    return total


def _wall(t: int) -> int:
    return t


def _on_timeline(compute: Callable[[Timeline], T]) -> T:
    """Run `compute` on the process's timeline, widening it first if the computation runs past its years."""
    timeline = current_timeline()
    for _ in range(_MAX_EXTENSIONS):
        try:
            return compute(timeline)
        except OutsideTimeline as outside:
            timeline = timeline_extend(timeline, first_year=outside.first_year, last_year=outside.last_year)
    raise ValueError("the time limit runs too far into the future for the working calendar")


def _unit_us(unit: str, timeline: Timeline) -> int:
    return _WORKING_US.get(unit) or timeline.day_us


def _merged_pauses(pauses: Sequence[Pause], *, since: int) -> list[tuple[int, int]]:
    """The pauses as sorted, disjoint µs intervals, leaving out those over before `since`."""
    intervals = []
    for pause_start, pause_end in pauses:
        _require_aware("pause start", pause_start)
        _require_aware("pause end", pause_end)
        s, e = to_us(pause_start), to_us(pause_end)
        if e < s:
            raise ValueError(f"a pause ends before it starts ({pause_start.isoformat()} > {pause_end.isoformat()})")
        if e > since and e > s:
            intervals.append((s, e))
    intervals.sort()
    merged: list[tuple[int, int]] = []
    for s, e in intervals:
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _require_aware(name: str, value: dt.datetime) -> None:
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware ({value.isoformat()} is naive)")


def _require_unit(unit: str) -> None:
    if unit not in _UNITS:
        raise ValueError(f"unknown time unit {unit!r}; expected one of {', '.join(sorted(_UNITS))}")
