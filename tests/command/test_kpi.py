"""Today's figures for the command centre's KPI strip: counted over one Qingdao calendar day from cases built through
the services, scoped to what the caller sees, filterable by district (404 outside the caller's area, 400 for a bad
id), in one query."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import translation
from rest_framework.test import APIClient

from cases import services
from cases.clock import clock_at
from cases.models import Source
from cases.sweep import deadlines_sweep
from command.kpi import kpi_today
from organisations.models import Role, User
from tests.cases.factories import T0, CaseWorld, case_world, png_upload, reported
from tests.factories import person

pytestmark = pytest.mark.django_db

KPI = "/api/v1/command/kpi/"
MINUTE, HOUR, DAY = dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1)
NOW = T0 + 4 * HOUR  # 14:00 in Qingdao on Thursday 2026-11-26
COUNTS = ("reported", "registered", "dispatched", "handled", "closed", "self_handled", "overdue_now")


@pytest.fixture
def world(db: Any) -> CaseWorld:
    with translation.override("en"):
        return case_world()


@pytest.fixture
def city_leader(world: CaseWorld) -> User:
    return person(Role.LEADER, world.city.root, username="shizhang")


def kpi(user: Any, **query: Any) -> dict[str, Any]:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(user)
    with clock_at(NOW):
        response = client.get(KPI, query)
    assert response.status_code == 200, response.content
    return response.json()


def counts(body: dict[str, Any]) -> dict[str, int]:
    return {name: body[name] for name in COUNTS}


@pytest.fixture
def today(world: CaseWorld) -> dict[str, Any]:
    """A day of work in district a (and one report in b), through the services. Limits (calendar hours): verify 1,
    register 2, dispatch 1, handle 24, check 2."""
    w = world
    # Yesterday: one case registered (dispatched late today), one never registered (overdue now).
    carried = reported(w, at=T0 - DAY)
    with clock_at(T0 - DAY + 10 * MINUTE):
        services.case_register(case=carried, actor=w.clerk)
    forgotten = reported(w, at=T0 - DAY)
    with clock_at(T0):
        services.case_dispatch(case=carried, actor=w.dispatcher)  # due yesterday: late

    # Today: a full life, every stage on time.
    full = reported(w, at=T0)
    with clock_at(T0 + 10 * MINUTE):
        services.case_register(case=full, actor=w.clerk)
    with clock_at(T0 + 20 * MINUTE):
        services.case_dispatch(case=full, actor=w.dispatcher)
        services.case_accept(case=full, actor=w.handler)
    with clock_at(T0 + HOUR):
        services.case_feedback(case=full, actor=w.handler, description="已更换井盖", after_photos=[png_upload()])
    with clock_at(T0 + 90 * MINUTE):
        services.case_check(case=full, actor=w.inspector, passed=True)

    # A citizen's report verified late, one rejected late, one self-handled, one in district b (overdue by now).
    citizen = reported(w, source=Source.CITIZEN, at=T0, location=w.near(40))
    with clock_at(T0 + 2 * HOUR):
        services.case_verify(case=citizen, actor=w.inspector)
    rejected = reported(w, at=T0, location=w.near(80))
    with clock_at(T0 + 3 * HOUR):
        services.case_reject(case=rejected, actor=w.clerk, reason="不属实")
    with clock_at(T0 + 30 * MINUTE):
        fixed = services.case_self_handle(
            inspector=w.inspector,
            minor_class=w.litter,
            location=w.point,
            description="清理散落垃圾",
            before_photos=[png_upload("before.png")],
            after_photos=[png_upload("after.png")],
        )
    in_b = reported(w, source=Source.HOTLINE, at=T0, location=w.in_b)
    with clock_at(T0 + 5 * MINUTE):
        services.case_verify(case=in_b, actor=person(Role.INSPECTOR, w.city.b.workstations[0]))

    deadlines_sweep(at=NOW)
    return {"carried": carried, "forgotten": forgotten, "full": full, "fixed": fixed, "in_b": in_b}


# District a: reported A (full), citizen, rejected, self-handled; registered: full; dispatched: carried, full;
# handled: full, self-handled; closed: full, self-handled. Stages with a deadline completed today: carried's
# dispatch (late), full's register, dispatch, handle, check (on time), citizen's verify (late), the rejection's
# register (late): 4 of 7 on time. Overdue now: forgotten (register due yesterday).
IN_A = {
    "reported": 4,
    "registered": 1,
    "dispatched": 2,
    "handled": 2,
    "closed": 2,
    "self_handled": 1,
    "overdue_now": 1,
}


def test_a_district_dispatcher_sees_todays_figures_of_the_district(world: CaseWorld, today: dict[str, Any]) -> None:
    body = kpi(world.dispatcher)

    assert counts(body) == IN_A
    assert (body["stages_completed"], body["stages_on_time"]) == (7, 4)
    assert body["on_time_rate"] == pytest.approx(4 / 7)
    assert body["date"] == "2026-11-26"
    assert body["district"] is None
    assert dt.datetime.fromisoformat(body["as_of"]) == NOW


def test_the_city_sees_every_district_and_filters_by_one(
    world: CaseWorld, city_leader: User, today: dict[str, Any]
) -> None:
    a, b = world.city.a.district, world.city.b.district
    # District b: the hotline report, verified on time, its registration overdue by now.
    in_b = {**dict.fromkeys(COUNTS, 0), "reported": 1, "overdue_now": 1}

    whole = kpi(city_leader)
    assert counts(whole) == {name: IN_A[name] + in_b[name] for name in COUNTS}
    assert (whole["stages_completed"], whole["stages_on_time"]) == (8, 5)
    assert counts(kpi(city_leader, district=a.pk)) == IN_A
    only_b = kpi(city_leader, district=b.pk)
    assert counts(only_b) == in_b
    assert (only_b["district"], only_b["on_time_rate"]) == (b.pk, 1.0)


def test_another_districts_dispatcher_does_not_see_the_counts(world: CaseWorld, today: dict[str, Any]) -> None:
    body = kpi(world.outsider_dispatcher)

    assert counts(body) == {**dict.fromkeys(COUNTS, 0), "reported": 1, "overdue_now": 1}
    client = APIClient()
    client.force_login(world.outsider_dispatcher)
    assert client.get(KPI, {"district": world.city.a.district.pk}).status_code == 404


def test_a_bad_district_is_a_400_and_an_unknown_one_a_404(world: CaseWorld) -> None:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(world.dispatcher)

    bad = client.get(KPI, {"district": "市南区"})
    assert bad.status_code == 400 and "district" in bad.json()
    assert client.get(KPI, {"district": 999_999}).status_code == 404
    assert APIClient().get(KPI).status_code in (401, 403)


def test_today_is_the_calendar_day_in_qingdao(world: CaseWorld) -> None:
    midnight_utc = dt.datetime(2026, 11, 25, 16, 0, tzinfo=dt.UTC)  # 00:00 on the 26th in Qingdao
    reported(world, at=midnight_utc - MINUTE)  # 23:59 on the 25th: yesterday
    reported(world, at=midnight_utc, location=world.near(40))  # 00:00 on the 26th: today
    reported(world, at=midnight_utc + DAY, location=world.near(80))  # 00:00 on the 27th: tomorrow

    assert kpi(world.dispatcher)["reported"] == 1
    with clock_at(midnight_utc - MINUTE):
        assert kpi_today(world.dispatcher).reported == 1
        assert str(kpi_today(world.dispatcher).date) == "2026-11-25"


def test_nothing_done_today_reads_zero_and_no_rate(world: CaseWorld) -> None:
    body = kpi(world.dispatcher)

    assert counts(body) == dict.fromkeys(COUNTS, 0)
    assert (body["stages_completed"], body["on_time_rate"]) == (0, None)


def test_the_figures_take_one_query(
    world: CaseWorld, city_leader: User, today: dict[str, Any], django_assert_num_queries: Any
) -> None:
    for user in (world.dispatcher, city_leader):
        kpi_today(user, now=NOW)  # the user's scope is read once and kept on the user object
        with django_assert_num_queries(1):
            figures = kpi_today(user, now=NOW)
        assert figures.reported >= IN_A["reported"]
