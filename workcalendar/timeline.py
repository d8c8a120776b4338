"""The working-time line: every working period as sorted integer instants, built once per process, rebuilt on change.

Instants are integer microseconds since the Unix epoch, so sums and inverses are exact. A process keeps one
immutable Timeline; writes to the calendar bump a token in the shared cache (Redis) after commit, and every
process compares its token with the shared one at most once per CHECK_EVERY seconds (no query per call).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.core.cache import cache

from workcalendar.models import CALENDAR_TIME_ZONE, CalendarDay, WorkSchedule

logger = logging.getLogger(__name__)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ONE_US = dt.timedelta(microseconds=1)
MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US
# Used when no schedule is active (a fresh database before migrations' data, or an administrator's mistake).
DEFAULT_PERIODS: tuple[tuple[dt.time, dt.time], ...] = (
    (dt.time(8, 30), dt.time(12, 0)),
    (dt.time(13, 30), dt.time(17, 30)),
)
# Years around today built up front; anything further is built on demand (see Timeline.extended).
YEARS_AROUND_TODAY = 5
# No time limit reaches outside these; a wild date (year 1) would otherwise build two thousand years of periods.
SUPPORTED_YEARS = (1900, 2200)
VERSION_KEY = "workcalendar:version"
CHECK_EVERY = 1.0  # seconds between two looks at the shared token: an edit reaches every process within this


def to_us(value: dt.datetime) -> int:
    return (value - EPOCH) // ONE_US


def from_us(value: int) -> dt.datetime:
    return (EPOCH + dt.timedelta(microseconds=value)).astimezone(CALENDAR_TIME_ZONE)


class OutsideTimeline(Exception):  # a signal to build more years, never seen by callers
    """The computation needs years the timeline does not cover yet."""

    def __init__(self, *, first_year: int, last_year: int) -> None:
        super().__init__(f"years {first_year}-{last_year} needed")
        self.first_year = first_year
        self.last_year = last_year


@dataclass(frozen=True, slots=True)
class Timeline:
    """Working periods of the days from 1 January `first_year` to 31 December `last_year`, in time order.

    position(t) is the working time (µs) from the timeline's origin to t: it grows inside working periods and
    stands still outside them, so a start outside working hours counts from the next working moment.
    instant(p) is the earliest t with position(t) == p: a limit that runs out exactly at the end of a
    period is due at that end (17:30), not at the start of the next one.
    """

    first_year: int
    last_year: int
    lo_us: int
    hi_us: int
    starts: list[int]
    ends: list[int]
    before: list[int]  # working time before period i
    after: list[int]  # working time up to the end of period i
    day_us: int  # working time in one working day
    periods: tuple[tuple[dt.time, dt.time], ...]
    days: Mapping[dt.date, bool]  # the calendar table (date -> is a working day); missing dates are defaults

    @classmethod
    def build(
        cls,
        *,
        days: Mapping[dt.date, bool],
        periods: Sequence[tuple[dt.time, dt.time]],
        first_year: int,
        last_year: int,
    ) -> Timeline:
        starts: list[int] = []
        ends: list[int] = []
        before: list[int] = []
        after: list[int] = []
        total = 0
        day = dt.date(first_year, 1, 1)
        last = dt.date(last_year, 12, 31)
        one_day = dt.timedelta(days=1)
        while day <= last:
            if is_working(days, day):
                for start, end in periods:
                    s = to_us(dt.datetime.combine(day, start, tzinfo=CALENDAR_TIME_ZONE))
                    e = to_us(dt.datetime.combine(day, end, tzinfo=CALENDAR_TIME_ZONE))
                    starts.append(s)
                    ends.append(e)
                    before.append(total)
                    total += e - s
                    after.append(total)
            if day == last:
                break
            day += one_day
        day_us = sum(
            (dt.datetime.combine(dt.date.min, end) - dt.datetime.combine(dt.date.min, start)) // ONE_US
            for start, end in periods
        )
        return cls(
            first_year=first_year,
            last_year=last_year,
            lo_us=to_us(dt.datetime(first_year, 1, 1, tzinfo=CALENDAR_TIME_ZONE)),
            hi_us=_year_end_us(last_year),
            starts=starts,
            ends=ends,
            before=before,
            after=after,
            day_us=day_us,
            periods=tuple(periods),
            days=days,
        )

    def position(self, t: int) -> int:
        if t < self.lo_us or t >= self.hi_us:
            year = from_us(t).year
            raise OutsideTimeline(first_year=min(year, self.first_year), last_year=max(year, self.last_year))
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0
        end = self.ends[i]
        return self.before[i] + (t if t < end else end) - self.starts[i]

    def instant(self, p: int) -> int:
        if not self.after or p > self.after[-1]:
            # Roughly how many more years the rest needs; a calendar with few working days may need another round.
            missing = p - (self.after[-1] if self.after else 0)
            per_year = max(self.day_us * 200, 1)
            raise OutsideTimeline(first_year=self.first_year, last_year=self.last_year + 1 + missing // per_year)
        i = bisect_left(self.after, p)
        return self.starts[i] + p - self.before[i]

    def extended(self, *, first_year: int, last_year: int) -> Timeline:
        return Timeline.build(
            days=self.days,
            periods=self.periods,
            first_year=min(first_year, self.first_year),
            last_year=max(last_year, self.last_year),
        )


def is_working(days: Mapping[dt.date, bool], day: dt.date) -> bool:
    """A day in the table says what it is; a day not loaded is a working day from Monday to Friday."""
    working = days.get(day)
    return day.weekday() < 5 if working is None else working


def _year_end_us(year: int) -> int:
    if year >= dt.MAXYEAR:
        return to_us(dt.datetime.max.replace(tzinfo=dt.UTC))
    return to_us(dt.datetime(year + 1, 1, 1, tzinfo=CALENDAR_TIME_ZONE))


def periods_valid(periods: Iterable[tuple[dt.time, dt.time]]) -> bool:
    """Non-empty, each ending after it starts, in order and not overlapping."""
    ordered = sorted(periods)
    if not ordered:
        return False
    return all(s < e for s, e in ordered) and all(a[1] <= b[0] for a, b in zip(ordered, ordered[1:], strict=False))


# --- the process's copy


class _State:
    def __init__(self) -> None:
        self.timeline: Timeline | None = None
        self.token: str | None = None
        self.checked_at = float("-inf")
        self.lock = threading.Lock()


_state = _State()
_monotonic = time.monotonic  # a name of our own, so a test can move the clock without sleeping


def current_timeline() -> Timeline:
    """The process's timeline, rebuilt from the database when another process (or this one) changed the calendar."""
    snapshot = _state.timeline
    now = _monotonic()
    if snapshot is not None and now - _state.checked_at < CHECK_EVERY:
        return snapshot
    token = _shared_token()
    with _state.lock:
        if _state.timeline is not None and token == _state.token:
            _state.checked_at = now
            return _state.timeline
        # Read the token before the tables: an edit committed after this read bumps it again.
        _state.timeline = _load()
        _state.token = token
        _state.checked_at = now
        return _state.timeline


def timeline_extend(timeline: Timeline, *, first_year: int, last_year: int) -> Timeline:
    """A timeline covering more years; kept for the next call unless the calendar changed meanwhile."""
    if first_year < SUPPORTED_YEARS[0] or last_year > SUPPORTED_YEARS[1]:
        raise ValueError(
            f"working time is counted between {SUPPORTED_YEARS[0]} and {SUPPORTED_YEARS[1]} only "
            f"(this computation needs {first_year}-{last_year})"
        )
    wider = timeline.extended(first_year=first_year, last_year=last_year)
    with _state.lock:
        if _state.timeline is timeline:
            _state.timeline = wider
    return wider


def calendar_changed() -> None:
    """Tell every process (through the shared cache) and this one that the calendar or the working hours changed."""
    try:
        cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:  # noqa: BLE001 (any cache backend error: the local drop below still applies)
        logger.warning("could not publish a working-calendar change; other processes see it on restart", exc_info=True)
    calendar_cache_clear()


def calendar_cache_clear() -> None:
    """Forget this process's timeline (tests call it between tests; the database they see changes under them)."""
    with _state.lock:
        _state.timeline = None
        _state.token = None
        _state.checked_at = float("-inf")


def _shared_token() -> str | None:
    try:
        token = cache.get(VERSION_KEY)
        if token is None:
            # First process after a cache flush: agree on one token.
            cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
            token = cache.get(VERSION_KEY)
    except Exception:  # noqa: BLE001 (Redis away: keep computing with the copy we have)
        logger.warning("working-calendar version unreadable; keeping this process's copy", exc_info=True)
        return _state.token
    return token


def _load() -> Timeline:
    days = dict(CalendarDay.objects.values_list("date", "is_working_day"))
    schedule = WorkSchedule.objects.filter(is_active=True).first()
    periods = [(p.start, p.end) for p in schedule.periods.order_by("start")] if schedule else []
    if not periods_valid(periods):
        logger.warning("no active working hours with valid periods; counting with the default 08:30-12:00, 13:30-17:30")
        periods = list(DEFAULT_PERIODS)
    this_year = dt.datetime.now(CALENDAR_TIME_ZONE).year
    years = [d.year for d in (min(days), max(days))] if days else []
    first = min([this_year - YEARS_AROUND_TODAY, *years])
    last = max([this_year + YEARS_AROUND_TODAY, *years])
    return Timeline.build(days=days, periods=sorted(periods), first_year=first, last_year=last)
