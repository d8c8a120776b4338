"""Factories for the working calendar: single days and working-hour schedules."""

from __future__ import annotations

import datetime as dt

import factory
from factory.django import DjangoModelFactory

from workcalendar.models import CalendarDay, DayKind, DaySource, WorkPeriod, WorkSchedule


class CalendarDayFactory(DjangoModelFactory):
    class Meta:
        model = CalendarDay
        django_get_or_create = ("date",)

    date = factory.Sequence(lambda n: dt.date(2030, 1, 1) + dt.timedelta(days=n))
    kind = factory.LazyAttribute(lambda o: DayKind.WORKDAY if o.date.weekday() < 5 else DayKind.WEEKEND)
    is_working_day = factory.LazyAttribute(lambda o: o.kind in DayKind.working())
    holiday_name = ""
    source = DaySource.PACKAGE


class WorkScheduleFactory(DjangoModelFactory):
    class Meta:
        model = WorkSchedule

    name = factory.Sequence(lambda n: f"作息时间{n}")
    is_active = False


class WorkPeriodFactory(DjangoModelFactory):
    class Meta:
        model = WorkPeriod

    schedule = factory.SubFactory(WorkScheduleFactory)
    start = dt.time(9, 0)
    end = dt.time(17, 0)
