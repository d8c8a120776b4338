"""Writes on the working calendar: loading a year from the official data, administrators' edits, working hours.

Every write that changes what counts as working time tells all processes after commit (timeline.calendar_changed).
"""

from __future__ import annotations

import datetime as dt
import logging
import zlib
from dataclasses import dataclass
from importlib.metadata import version

import chinese_calendar
from django.db import connection, transaction
from django.utils import timezone

from organisations.models import User
from workcalendar.models import CalendarDay, DayKind, DaySource, WorkSchedule
from workcalendar.timeline import calendar_changed

logger = logging.getLogger(__name__)

PACKAGE = "chinese-calendar"
# Two loads at once (make run while a worker loads, two commands) would race on the unique date;
# a transaction-scoped advisory lock makes the second wait and then find nothing to do.
_LOAD_LOCK_KEY = zlib.crc32(b"calendar_load_year")
_HOLIDAY_NAMES = {holiday.value: holiday.chinese for holiday in chinese_calendar.Holiday}


@dataclass(frozen=True)
class OfficialDay:
    kind: str
    holiday_name: str
    source: str

    @property
    def is_working_day(self) -> bool:
        return self.kind in DayKind.working()


@dataclass
class CalendarLoadResult:
    year: int
    official: bool  # False: the package had no data for the year, so only weekends are days off
    package_version: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0  # set by an administrator: never overwritten by a load


def package_version() -> str:
    return version(PACKAGE)


def package_has_year(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def official_day(day: dt.date, *, has_year: bool | None = None) -> OfficialDay:
    """What the official calendar (the package) says `day` is; weekends only when it has no data for the year."""
    weekend = day.weekday() >= 5
    if not (package_has_year(day.year) if has_year is None else has_year):
        return OfficialDay(DayKind.WEEKEND if weekend else DayKind.WORKDAY, "", DaySource.WEEKENDS_ONLY)
    on_holiday, name = chinese_calendar.get_holiday_detail(day)
    holiday_name = _HOLIDAY_NAMES.get(name, name or "")
    if chinese_calendar.is_workday(day):
        if weekend:
            return OfficialDay(DayKind.MAKEUP_WORKDAY, holiday_name, DaySource.PACKAGE)
        return OfficialDay(DayKind.WORKDAY, "", DaySource.PACKAGE)
    if on_holiday and name:
        return OfficialDay(DayKind.HOLIDAY, holiday_name, DaySource.PACKAGE)
    return OfficialDay(DayKind.WEEKEND if weekend else DayKind.HOLIDAY, "", DaySource.PACKAGE)


@transaction.atomic
def calendar_load_year(*, year: int) -> CalendarLoadResult:
    """Fill every day of `year` from the official calendar; idempotent.

    Days an administrator set are kept as they are. Days loaded before (from the package, or weekends only
    when it lacked the year) are brought up to date, so loading again after upgrading the package replaces
    a weekends-only year with the official one.
    """
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise ValueError(f"no such year: {year}")
    official = package_has_year(year)
    result = CalendarLoadResult(year=year, official=official, package_version=package_version())
    if not official:
        logger.warning(
            "%s %s has no data for %s: loaded weekends only, without public holidays or make-up working days; "
            "enter the year's notice in the admin or upgrade the package and load again",
            PACKAGE,
            result.package_version,
            year,
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOAD_LOCK_KEY])
    existing = {day.date: day for day in CalendarDay.objects.filter(date__year=year)}
    to_create: list[CalendarDay] = []
    to_update: list[CalendarDay] = []
    now = timezone.now()
    day = dt.date(year, 1, 1)
    while day.year == year:
        wanted = official_day(day, has_year=official)
        row = existing.get(day)
        if row is None:
            to_create.append(
                CalendarDay(
                    date=day,
                    kind=wanted.kind,
                    is_working_day=wanted.is_working_day,
                    holiday_name=wanted.holiday_name,
                    source=wanted.source,
                )
            )
        elif row.source == DaySource.ADMINISTRATOR:
            result.kept += 1
        elif (row.kind, row.holiday_name, row.source) == (wanted.kind, wanted.holiday_name, wanted.source):
            result.unchanged += 1
        else:
            row.kind, row.is_working_day = wanted.kind, wanted.is_working_day
            row.holiday_name, row.source, row.updated_at = wanted.holiday_name, wanted.source, now
            to_update.append(row)
        if day.month == 12 and day.day == 31:
            break
        day += dt.timedelta(days=1)
    CalendarDay.objects.bulk_create(to_create)
    CalendarDay.objects.bulk_update(to_update, ["kind", "is_working_day", "holiday_name", "source", "updated_at"])
    result.created, result.updated = len(to_create), len(to_update)
    if to_create or to_update:
        transaction.on_commit(calendar_changed)
    return result


@transaction.atomic
def calendar_day_set(*, day: dt.date, kind: str, holiday_name: str = "", acting_user: User | None) -> CalendarDay:
    """An administrator says what `day` is (e.g. from the State Council notice); later loads keep it.

    Raises ValidationError for a kind that does not fit the weekday (see CalendarDay.clean).
    """
    row = CalendarDay.objects.select_for_update().filter(date=day).first() or CalendarDay(date=day)
    row.kind = kind
    row.is_working_day = kind in DayKind.working()
    row.holiday_name = holiday_name
    row.source = DaySource.ADMINISTRATOR
    row.edited_by = acting_user
    row.full_clean(validate_unique=False, validate_constraints=False)
    row.save()
    transaction.on_commit(calendar_changed)
    return row


@transaction.atomic
def calendar_day_release(*, day: dt.date) -> CalendarDay:
    """Undo an administrator's edit: the day goes back to what the official calendar says, and loads own it again."""
    row = CalendarDay.objects.select_for_update().filter(date=day).first() or CalendarDay(date=day)
    wanted = official_day(day)
    row.kind, row.is_working_day = wanted.kind, wanted.is_working_day
    row.holiday_name, row.source, row.edited_by = wanted.holiday_name, wanted.source, None
    row.save()
    transaction.on_commit(calendar_changed)
    return row


@transaction.atomic
def work_schedule_save(*, schedule: WorkSchedule) -> WorkSchedule:
    """Save a schedule; making it active deactivates the one that was (one active schedule at a time)."""
    if schedule.is_active:
        WorkSchedule.objects.filter(is_active=True).exclude(pk=schedule.pk).update(is_active=False)
    schedule.save()
    transaction.on_commit(calendar_changed)
    return schedule


def work_schedule_changed() -> None:
    """The periods of a schedule changed (saved by the admin's inline formset): recompute working time after commit."""
    transaction.on_commit(calendar_changed)


@transaction.atomic
def work_schedule_delete(*, schedule: WorkSchedule) -> None:
    """Delete a schedule and its periods; with no active schedule left, working time uses the default hours."""
    schedule.delete()
    transaction.on_commit(calendar_changed)
