"""`manage.py load_calendar`: this year and next by default, idempotent, loud about a year the package lacks."""

from __future__ import annotations

import calendar
import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from workcalendar.models import CALENDAR_TIME_ZONE, CalendarDay, DayKind, DaySource
from workcalendar.services import package_version

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("load_calendar", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _days_in(year: int) -> int:
    return 366 if calendar.isleap(year) else 365


def test_by_default_it_loads_the_current_and_the_next_year():
    this_year = timezone.now().astimezone(CALENDAR_TIME_ZONE).year

    out, _ = _run()

    for year in (this_year, this_year + 1):
        assert CalendarDay.objects.filter(date__year=year).count() == _days_in(year)
        assert f"calendar {year}" in out
    assert CalendarDay.objects.count() == _days_in(this_year) + _days_in(this_year + 1)


def test_it_loads_the_years_given_and_a_second_run_changes_nothing():
    first, _ = _run("--year", "2025", "2026")
    second, _ = _run("--year", "2026", "--year", "2025")

    assert f"calendar 2026 (chinese-calendar {package_version()}): created 365" in first
    assert f"calendar 2025 (chinese-calendar {package_version()}): created 365" in first
    assert "created 0, updated 0, unchanged 365, kept 0" in second
    assert CalendarDay.objects.get(date=dt.date(2025, 10, 8)).kind == DayKind.HOLIDAY  # 2025's National Day


def test_a_year_the_package_lacks_is_loaded_as_weekends_only_with_a_warning_naming_the_year():
    out, err = _run("--year", "2099")

    assert "WARNING" in err and "2099" in err and "weekends only" in err
    assert "calendar 2099 (weekends only): created 365" in out
    assert set(CalendarDay.objects.values_list("source", flat=True)) == {DaySource.WEEKENDS_ONLY}


def test_a_year_that_is_not_a_year_is_refused_and_nothing_is_loaded():
    with pytest.raises(CommandError):
        _run("--year", "twenty")
    with pytest.raises(CommandError):
        _run("--year", "99999")

    assert not CalendarDay.objects.exists()
