"""The three lists (超期 overdue, 重点 key, 疑难 difficult) in the case API: `?list=` uses cases.lists, so a list
holds only open cases in the caller's scope, unlike the bare `is_*` flags."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rest_framework.test import APIClient

from cases import services
from cases.alerts import Mode, operating_mode_set
from cases.clock import clock_at
from cases.models import Case, Source, Status
from tests.cases.factories import T0, CaseWorld, case_in, reported

pytestmark = pytest.mark.django_db

CASES = "/api/v1/cases/"


def client_for(user: Any) -> APIClient:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


def listed(user: Any, **query: str) -> set[int]:
    response = client_for(user).get(CASES, query)
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


def test_the_overdue_list_holds_open_late_cases_only_while_the_flag_alone_keeps_a_closed_one(
    world: CaseWorld,
) -> None:
    late = case_in(world, Status.REGISTERED)
    closed_late = case_in(world, Status.CLOSED)
    on_time = case_in(world, Status.REGISTERED)
    Case.objects.filter(pk__in=[late.pk, closed_late.pk]).update(is_overdue=True)

    assert listed(world.dispatcher, list="overdue") == {late.pk}
    assert listed(world.dispatcher, is_overdue="true") == {late.pk, closed_late.pk}
    assert on_time.pk not in listed(world.dispatcher, list="overdue")


def test_a_list_shows_nothing_outside_the_callers_scope(world: CaseWorld) -> None:
    late = case_in(world, Status.REGISTERED)
    Case.objects.filter(pk=late.pk).update(is_overdue=True, is_key=True, is_difficult=True)

    for name in ("overdue", "key", "difficult"):
        assert listed(world.dispatcher, list=name) == {late.pk}
        assert listed(world.outsider_dispatcher, list=name) == set()


def test_the_key_list_holds_flagged_cases_and_every_open_case_in_major_event_mode(world: CaseWorld) -> None:
    flagged = case_in(world, Status.HANDLING)
    plain = case_in(world, Status.HANDLING)
    closed = case_in(world, Status.CLOSED)
    with clock_at(T0):
        services.case_flag_key(case=flagged, actor=world.leader, reason="市领导关注")

    assert listed(world.leader, list="key") == {flagged.pk}

    with clock_at(T0):
        operating_mode_set(mode=Mode.MAJOR_EVENT, actor=world.leader, note="峰会保障")

    assert listed(world.leader, list="key") == {flagged.pk, plain.pk}
    assert closed.pk not in listed(world.leader, list="key")


def test_the_difficult_list_holds_disputed_cases_and_cases_open_too_long(world: CaseWorld) -> None:
    disputed = case_in(world, Status.DISPATCHED)
    with clock_at(T0):
        services.case_return(case=disputed, actor=world.handler, reason="非本单位")
        services.case_dispatch(case=disputed, actor=world.dispatcher)
        services.case_return(case=disputed, actor=world.handler, reason="仍非本单位")
    old = reported(world, at=T0 - dt.timedelta(days=40), location=world.near(300))
    fresh = reported(world, location=world.near(600))

    with clock_at(T0):
        found = listed(world.dispatcher, list="difficult")

    assert found == {disputed.pk, old.pk}
    assert fresh.pk not in found


def test_a_list_combines_with_other_filters_and_the_geojson_list(world: CaseWorld) -> None:
    late_registered = case_in(world, Status.REGISTERED)
    late_reported = reported(world, source=Source.INSPECTOR, location=world.near(200))
    Case.objects.filter(pk__in=[late_registered.pk, late_reported.pk]).update(is_overdue=True)

    assert listed(world.dispatcher, list="overdue", status=Status.REPORTED) == {late_reported.pk}
    features = client_for(world.dispatcher).get(f"{CASES}geojson/", {"list": "overdue"}).json()["features"]
    assert {f["id"] for f in features} == {late_registered.pk, late_reported.pk}


def test_an_unknown_list_is_a_400_naming_the_parameter(world: CaseWorld) -> None:
    response = client_for(world.dispatcher).get(CASES, {"list": "urgent"})

    assert response.status_code == 400
    assert "list" in response.json()
