"""Loading a year from chinese-calendar: matches the State Council's 2026 notice, idempotent, keeps manual edits."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.core.exceptions import ValidationError

from workcalendar.models import CalendarDay, DayKind, DaySource
from workcalendar.services import calendar_day_release, calendar_day_set, calendar_load_year

pytestmark = pytest.mark.django_db

# The State Council General Office notice on the 2026 holiday arrangement (国务院办公厅关于2026年部分节假日安排的通知),
# 2025-11-04, as published by Xinhua. Copied here on purpose: the test checks the package against the notice.
NOTICE_2026_HOLIDAYS = {
    "元旦": ["2026-01-01", "2026-01-02", "2026-01-03"],
    "春节": [
        "2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19",
        "2026-02-20", "2026-02-21", "2026-02-22", "2026-02-23",
    ],
    "清明": ["2026-04-04", "2026-04-05", "2026-04-06"],
    "劳动节": ["2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05"],
    "端午": ["2026-06-19", "2026-06-20", "2026-06-21"],
    "中秋": ["2026-09-25", "2026-09-26", "2026-09-27"],
    "国庆节": [
        "2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06", "2026-10-07",
    ],
}  # fmt: skip
NOTICE_2026_MAKEUP_WORKDAYS = ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]


def _dates(values: list[str]) -> set[dt.date]:
    return {dt.date.fromisoformat(value) for value in values}


def test_loading_2026_matches_the_state_council_notice_exactly(calendar_2026):
    holidays = _dates([day for days in NOTICE_2026_HOLIDAYS.values() for day in days])
    makeup = _dates(NOTICE_2026_MAKEUP_WORKDAYS)
    days = {day.date: day for day in CalendarDay.objects.filter(date__year=2026)}

    assert calendar_2026.official and calendar_2026.created == 365 == len(days)
    assert {d for d, day in days.items() if day.kind == DayKind.HOLIDAY} == holidays
    assert {d for d, day in days.items() if day.kind == DayKind.MAKEUP_WORKDAY} == makeup
    assert all(not days[d].is_working_day for d in holidays)
    assert all(days[d].is_working_day and d.weekday() >= 5 for d in makeup)
    # Everything else is the ordinary week: Monday to Friday at work, Saturday and Sunday off.
    for date, day in days.items():
        if date not in holidays | makeup:
            assert day.is_working_day == (date.weekday() < 5), date
            assert day.kind == (DayKind.WORKDAY if date.weekday() < 5 else DayKind.WEEKEND)
    assert all(day.source == DaySource.PACKAGE for day in days.values())


def test_each_holiday_and_make_up_day_carries_its_festival_name_in_chinese(calendar_2026):
    names = dict(
        CalendarDay.objects.filter(date__year=2026).exclude(holiday_name="").values_list("date", "holiday_name")
    )

    for name, days in NOTICE_2026_HOLIDAYS.items():
        assert {names[d] for d in _dates(days)} == {name}
    assert names[dt.date(2026, 2, 14)] == names[dt.date(2026, 2, 28)] == "春节"
    assert names[dt.date(2026, 10, 10)] == "国庆节"


def test_loading_a_year_again_changes_nothing(calendar_2026):
    before = list(CalendarDay.objects.order_by("date").values_list("date", "kind", "is_working_day", "updated_at"))

    again = calendar_load_year(year=2026)

    assert (again.created, again.updated, again.unchanged, again.kept) == (0, 0, 365, 0)
    assert (
        list(CalendarDay.objects.order_by("date").values_list("date", "kind", "is_working_day", "updated_at")) == before
    )


def test_a_day_an_administrator_edited_survives_a_reload(calendar_2026, django_user_model):
    admin_user = django_user_model.objects.create(username="cal-admin")
    calendar_day_set(day=dt.date(2026, 3, 9), kind=DayKind.HOLIDAY, holiday_name="临时调整", acting_user=admin_user)

    result = calendar_load_year(year=2026)

    day = CalendarDay.objects.get(date=dt.date(2026, 3, 9))
    assert (result.kept, result.updated, result.unchanged) == (1, 0, 364)
    assert (day.kind, day.is_working_day, day.holiday_name) == (DayKind.HOLIDAY, False, "临时调整")
    assert (day.source, day.edited_by) == (DaySource.ADMINISTRATOR, admin_user)


def test_a_released_day_goes_back_to_the_official_calendar_and_loads_own_it_again(calendar_2026):
    calendar_day_set(day=dt.date(2026, 2, 16), kind=DayKind.WORKDAY, acting_user=None)

    released = calendar_day_release(day=dt.date(2026, 2, 16))

    assert (released.kind, released.is_working_day, released.source) == (DayKind.HOLIDAY, False, DaySource.PACKAGE)
    assert released.holiday_name == "春节" and released.edited_by is None
    assert calendar_load_year(year=2026).kept == 0


def test_a_year_the_package_lacks_is_loaded_as_weekends_only_with_a_warning(db, caplog):
    with caplog.at_level(logging.WARNING, logger="workcalendar.services"):
        result = calendar_load_year(year=2099)

    days = CalendarDay.objects.filter(date__year=2099)
    assert not result.official and result.created == 365 == days.count()
    assert {day.source for day in days} == {DaySource.WEEKENDS_ONLY}
    assert not days.filter(kind__in=[DayKind.HOLIDAY, DayKind.MAKEUP_WORKDAY]).exists()
    assert all(day.is_working_day == (day.date.weekday() < 5) for day in days)
    assert "2099" in caplog.text and "weekends only" in caplog.text


def test_loading_again_once_the_package_has_the_year_replaces_the_weekends_only_days(db, monkeypatch):
    monkeypatch.setattr("workcalendar.services.package_has_year", lambda year: False)
    calendar_load_year(year=2026)
    assert CalendarDay.objects.get(date=dt.date(2026, 2, 16)).is_working_day  # no holidays known yet
    monkeypatch.undo()

    result = calendar_load_year(year=2026)

    spring_festival = CalendarDay.objects.get(date=dt.date(2026, 2, 16))
    assert result.official and result.updated == 365  # every day changes source, some also kind
    assert (spring_festival.kind, spring_festival.source) == (DayKind.HOLIDAY, DaySource.PACKAGE)
    assert set(CalendarDay.objects.values_list("source", flat=True)) == {DaySource.PACKAGE}


def test_a_kind_that_does_not_fit_the_weekday_is_refused_and_changes_nothing(calendar_2026):
    with pytest.raises(ValidationError):
        calendar_day_set(day=dt.date(2026, 3, 9), kind=DayKind.MAKEUP_WORKDAY, acting_user=None)  # a Monday
    with pytest.raises(ValidationError):
        calendar_day_set(day=dt.date(2026, 3, 7), kind=DayKind.WORKDAY, acting_user=None)  # a Saturday

    assert CalendarDay.objects.get(date=dt.date(2026, 3, 9)).kind == DayKind.WORKDAY
    assert CalendarDay.objects.get(date=dt.date(2026, 3, 7)).kind == DayKind.WEEKEND
    assert not CalendarDay.objects.filter(source=DaySource.ADMINISTRATOR).exists()
