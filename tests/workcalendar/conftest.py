"""Working-calendar test fixtures: 2026 loaded from the package, Beijing-time datetimes, a fresh process copy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from workcalendar.models import CALENDAR_TIME_ZONE
from workcalendar.services import CalendarLoadResult, calendar_load_year
from workcalendar.timeline import calendar_cache_clear


def bj(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    """A Beijing-time (Asia/Shanghai) datetime."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=CALENDAR_TIME_ZONE)


@pytest.fixture(autouse=True)
def fresh_timeline() -> Iterator[None]:
    # The process keeps its timeline across tests, but each test's database is rolled back under it.
    calendar_cache_clear()
    yield
    calendar_cache_clear()


@pytest.fixture
def calendar_2026(db) -> CalendarLoadResult:
    return calendar_load_year(year=2026)
