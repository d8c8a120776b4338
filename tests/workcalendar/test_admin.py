"""The calendar admin: a city administrator browses days by year and month, marks days off or working, sets hours."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from organisations.models import Role, UnitType, User
from tests.factories import OrgUnitFactory, UserFactory, person
from workcalendar.models import CalendarDay, DayKind, DaySource, WorkPeriod, WorkSchedule
from workcalendar.services import calendar_load_year

pytestmark = pytest.mark.django_db

DAYS = reverse("admin:workcalendar_calendarday_changelist")
SCHEDULES = reverse("admin:workcalendar_workschedule_changelist")
MARCH_9 = dt.date(2026, 3, 9)  # a Monday


@pytest.fixture
def city_admin() -> User:
    return person(Role.ADMINISTRATOR, OrgUnitFactory(name="市指挥中心", code="QD-CC", unit_type=UnitType.CITY_CENTRE))


@pytest.fixture
def admin_client(city_admin: User) -> Client:
    client = Client()
    client.force_login(city_admin)
    return client


@pytest.fixture
def staff_client() -> Client:
    """Staff with admin-site access but neither the administrator role nor calendar permissions."""
    client = Client()
    client.force_login(UserFactory(is_staff=True))
    return client


def _dates(response) -> list[dt.date]:
    return [day.date for day in response.context["cl"].result_list]


def _day(date: dt.date) -> CalendarDay:
    return CalendarDay.objects.get(date=date)


def test_an_administrator_lists_a_month_of_a_year_and_filters_by_kind(
    admin_client, calendar_2026, django_assert_max_num_queries
):
    # A fixed number of queries (session, user, role, filters, counts, permissions, page, date hierarchy, and the
    # operating mode for the banner every page shows, read once per process every few seconds): none per row.
    with django_assert_max_num_queries(12):
        february = admin_client.get(DAYS, {"year": "2026", "month": "2"})
    makeup = admin_client.get(DAYS, {"year": "2026", "kind": DayKind.MAKEUP_WORKDAY})
    drilled = admin_client.get(DAYS, {"date__year": "2026", "date__month": "10"})

    assert february.status_code == 200
    assert february.context["cl"].result_count == 28
    assert "春节" in february.content.decode()
    assert _dates(makeup) == [dt.date(2026, m, d) for m, d in ((1, 4), (2, 14), (2, 28), (5, 9), (9, 20), (10, 10))]
    assert drilled.context["cl"].result_count == 31


def test_an_administrator_marks_a_weekday_a_holiday_and_a_reload_keeps_it(admin_client, city_admin, calendar_2026):
    response = admin_client.post(
        reverse("admin:workcalendar_calendarday_change", args=[_day(MARCH_9).pk]),
        {"kind": DayKind.HOLIDAY, "holiday_name": "防台风停工", "_save": "Save"},
    )
    calendar_load_year(year=2026)

    assert response.status_code == 302
    day = _day(MARCH_9)
    assert (day.kind, day.is_working_day, day.holiday_name) == (DayKind.HOLIDAY, False, "防台风停工")
    assert (day.source, day.edited_by) == (DaySource.ADMINISTRATOR, city_admin)


def test_a_kind_that_does_not_fit_the_weekday_is_refused_in_the_form_and_nothing_changes(admin_client, calendar_2026):
    before = _day(MARCH_9).updated_at

    response = admin_client.post(
        reverse("admin:workcalendar_calendarday_change", args=[_day(MARCH_9).pk]),
        {"kind": DayKind.WEEKEND, "holiday_name": "", "_save": "Save"},
    )

    assert response.status_code == 200 and response.context["adminform"].form.errors
    day = _day(MARCH_9)
    assert (day.kind, day.source, day.updated_at) == (DayKind.WORKDAY, DaySource.PACKAGE, before)


def test_an_administrator_adds_a_day_of_a_year_not_loaded_from_next_years_notice(admin_client):
    response = admin_client.post(
        reverse("admin:workcalendar_calendarday_add"),
        {"date": "2027-02-06", "kind": DayKind.HOLIDAY, "holiday_name": "春节", "_save": "Save"},
    )

    assert response.status_code == 302
    day = _day(dt.date(2027, 2, 6))
    assert (day.kind, day.is_working_day, day.source) == (DayKind.HOLIDAY, False, DaySource.ADMINISTRATOR)


def test_the_actions_mark_days_working_or_off_and_hand_them_back_to_the_official_calendar(admin_client, calendar_2026):
    saturday, holiday_monday = dt.date(2026, 3, 7), dt.date(2026, 2, 16)
    selected = [_day(saturday).pk, _day(holiday_monday).pk]

    admin_client.post(DAYS, {"action": "mark_working", "_selected_action": selected})
    assert (_day(saturday).kind, _day(holiday_monday).kind) == (DayKind.MAKEUP_WORKDAY, DayKind.WORKDAY)
    assert all(_day(d).is_working_day and _day(d).source == DaySource.ADMINISTRATOR for d in (saturday, holiday_monday))

    admin_client.post(DAYS, {"action": "mark_holiday", "_selected_action": [_day(MARCH_9).pk]})
    assert (_day(MARCH_9).kind, _day(MARCH_9).is_working_day) == (DayKind.HOLIDAY, False)

    admin_client.post(DAYS, {"action": "release_to_official", "_selected_action": [*selected, _day(MARCH_9).pk]})
    assert [_day(d).kind for d in (saturday, holiday_monday, MARCH_9)] == [
        DayKind.WEEKEND,
        DayKind.HOLIDAY,
        DayKind.WORKDAY,
    ]
    assert not CalendarDay.objects.filter(source=DaySource.ADMINISTRATOR).exists()


def test_days_cannot_be_deleted(admin_client, calendar_2026):
    response = admin_client.post(
        reverse("admin:workcalendar_calendarday_delete", args=[_day(MARCH_9).pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert CalendarDay.objects.filter(date=MARCH_9).exists()


def test_staff_without_the_administrator_role_can_neither_see_nor_change_the_calendar(staff_client, calendar_2026):
    listing = staff_client.get(DAYS)
    change = staff_client.post(
        reverse("admin:workcalendar_calendarday_change", args=[_day(MARCH_9).pk]),
        {"kind": DayKind.HOLIDAY, "holiday_name": "", "_save": "Save"},
    )
    action = staff_client.post(DAYS, {"action": "mark_holiday", "_selected_action": [_day(MARCH_9).pk]})

    assert listing.status_code == change.status_code == action.status_code == 403
    assert _day(MARCH_9).kind == DayKind.WORKDAY
    assert not CalendarDay.objects.filter(source=DaySource.ADMINISTRATOR).exists()


def _schedule_form(name: str, periods: list[tuple[str, str]], *, active: bool) -> dict[str, str]:
    data = {
        "name": name,
        "periods-TOTAL_FORMS": str(len(periods)),
        "periods-INITIAL_FORMS": "0",
        "periods-MIN_NUM_FORMS": "0",
        "periods-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    if active:
        data["is_active"] = "on"
    for n, (start, end) in enumerate(periods):
        data[f"periods-{n}-start"], data[f"periods-{n}-end"] = start, end
    return data


def test_an_administrator_adds_working_hours_and_activating_them_retires_the_old(admin_client):
    standard = WorkSchedule.objects.get(is_active=True)  # from the data migration

    response = admin_client.post(
        reverse("admin:workcalendar_workschedule_add"),
        _schedule_form("夏季作息", [("08:00", "12:00"), ("14:30", "18:00")], active=True),
    )

    assert response.status_code == 302
    summer = WorkSchedule.objects.get(name="夏季作息")
    assert list(WorkSchedule.objects.filter(is_active=True)) == [summer]
    assert [str(p) for p in summer.periods.all()] == ["08:00-12:00", "14:30-18:00"]
    standard.refresh_from_db()
    assert not standard.is_active and standard.periods.count() == 2
    assert admin_client.get(SCHEDULES).status_code == 200


def test_overlapping_working_periods_are_refused_and_nothing_is_saved(admin_client):
    before = list(WorkPeriod.objects.values_list("schedule_id", "start", "end"))

    response = admin_client.post(
        reverse("admin:workcalendar_workschedule_add"),
        _schedule_form("错误作息", [("08:00", "12:00"), ("11:00", "17:00")], active=True),
    )

    assert response.status_code == 200
    assert not WorkSchedule.objects.filter(name="错误作息").exists()
    assert WorkSchedule.objects.get(is_active=True).name == "标准工作时间"
    assert list(WorkPeriod.objects.values_list("schedule_id", "start", "end")) == before
