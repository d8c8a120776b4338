"""The process's copy of the calendar: built once, no query per call, rebuilt when anyone edits days or hours."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache

from tests.workcalendar.conftest import bj
from tests.workcalendar.factories import WorkPeriodFactory, WorkScheduleFactory
from workcalendar import timeline
from workcalendar.models import CalendarDay, DayKind, WorkSchedule
from workcalendar.selectors import deadline_after
from workcalendar.services import calendar_day_set, calendar_load_year, work_schedule_delete, work_schedule_save
from workcalendar.units import TimeUnit

pytestmark = pytest.mark.django_db

FRIDAY_4PM = bj(2026, 3, 6, 16)
MONDAY_11AM, TUESDAY_11AM = bj(2026, 3, 9, 11), bj(2026, 3, 10, 11)


def _four_hours() -> dt.datetime:
    return deadline_after(start=FRIDAY_4PM, amount=4, unit=TimeUnit.WORKING_HOURS)


def test_after_the_first_call_no_call_queries_the_database(calendar_2026, django_assert_num_queries):
    _four_hours()

    with django_assert_num_queries(0):
        for n in range(1000):
            deadline_after(start=FRIDAY_4PM + dt.timedelta(minutes=n), amount=n % 40 + 1, unit=TimeUnit.WORKING_HOURS)


def test_an_edit_in_this_process_is_seen_by_the_next_call(calendar_2026, django_capture_on_commit_callbacks):
    assert _four_hours() == MONDAY_11AM

    with django_capture_on_commit_callbacks(execute=True):
        calendar_day_set(day=dt.date(2026, 3, 9), kind=DayKind.HOLIDAY, acting_user=None)

    assert _four_hours() == TUESDAY_11AM


def test_an_edit_in_another_process_is_seen_once_the_shared_version_is_checked(calendar_2026, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(timeline, "_monotonic", lambda: clock[0])
    assert _four_hours() == MONDAY_11AM

    # What another process's edit leaves behind: the row changed and the shared version bumped.
    CalendarDay.objects.filter(date=dt.date(2026, 3, 9)).update(kind=DayKind.HOLIDAY, is_working_day=False)
    cache.set(timeline.VERSION_KEY, "bumped-by-another-process", timeout=None)

    assert _four_hours() == MONDAY_11AM  # within CHECK_EVERY this process trusts its copy
    clock[0] += timeline.CHECK_EVERY
    assert _four_hours() == TUESDAY_11AM


def test_the_copy_is_kept_while_the_shared_version_is_unchanged(calendar_2026, monkeypatch, django_assert_num_queries):
    clock = [1000.0]
    monkeypatch.setattr(timeline, "_monotonic", lambda: clock[0])
    _four_hours()
    clock[0] += 10 * timeline.CHECK_EVERY

    with django_assert_num_queries(0):
        assert _four_hours() == MONDAY_11AM


def test_loading_a_year_is_seen_by_the_next_call(db, django_capture_on_commit_callbacks):
    assert deadline_after(start=bj(2026, 2, 13, 16), amount=4, unit=TimeUnit.WORKING_HOURS) == bj(2026, 2, 16, 11)

    with django_capture_on_commit_callbacks(execute=True):
        calendar_load_year(year=2026)

    # Saturday 02-14 is a make-up working day.
    assert deadline_after(start=bj(2026, 2, 13, 16), amount=4, unit=TimeUnit.WORKING_HOURS) == bj(2026, 2, 14, 11)


def test_new_working_hours_are_seen_by_the_next_call(calendar_2026, django_capture_on_commit_callbacks):
    nine_to_five = WorkScheduleFactory(name="夏季作息")
    WorkPeriodFactory(schedule=nine_to_five, start=dt.time(9), end=dt.time(17))
    assert _four_hours() == MONDAY_11AM

    with django_capture_on_commit_callbacks(execute=True):
        nine_to_five.is_active = True
        work_schedule_save(schedule=nine_to_five)

    assert list(WorkSchedule.objects.filter(is_active=True)) == [nine_to_five]
    assert _four_hours() == bj(2026, 3, 9, 12)  # one hour on Friday (16-17), three on Monday from 09:00


def test_with_no_active_schedule_the_default_hours_apply(calendar_2026, django_capture_on_commit_callbacks):
    nine_to_five = WorkPeriodFactory(schedule__is_active=False, start=dt.time(9), end=dt.time(17)).schedule
    with django_capture_on_commit_callbacks(execute=True):
        nine_to_five.is_active = True
        work_schedule_save(schedule=nine_to_five)
    assert _four_hours() == bj(2026, 3, 9, 12)

    with django_capture_on_commit_callbacks(execute=True):
        for schedule in WorkSchedule.objects.all():
            work_schedule_delete(schedule=schedule)

    assert not WorkSchedule.objects.exists()
    assert _four_hours() == MONDAY_11AM  # 08:30-12:00 and 13:30-17:30
