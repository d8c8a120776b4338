"""The admin: cases and their logs to look at, never to change; routing rules to edit."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from cases.models import Case, RoutingRule, Status
from organisations.models import Role
from tests.cases.factories import CaseWorld, case_in
from tests.factories import person


@pytest.fixture
def admin_client_for_city(world: CaseWorld) -> Client:
    client = Client()
    client.force_login(person(Role.ADMINISTRATOR, world.city.root, is_staff=True))
    return client


def test_the_case_list_filters_and_searches(world: CaseWorld, admin_client_for_city: Client) -> None:
    closed = case_in(world, Status.CLOSED)
    case_in(world, Status.REPORTED)
    url = reverse("admin:cases_case_changelist")

    assert admin_client_for_city.get(url).status_code == 200
    response = admin_client_for_city.get(url, {"status": "closed", "district__id__exact": world.city.a.district.pk})
    assert list(response.context["cl"].result_list) == [closed]
    response = admin_client_for_city.get(url, {"q": closed.number})
    assert list(response.context["cl"].result_list) == [closed]


def test_a_case_is_read_only_with_its_events_inline(world: CaseWorld, admin_client_for_city: Client) -> None:
    case = case_in(world, Status.HANDLING)
    url = reverse("admin:cases_case_change", args=[case.pk])

    response = admin_client_for_city.get(url)
    assert response.status_code == 200
    assert b"accept" in response.content and case.number.encode() in response.content
    before = Case.objects.filter(pk=case.pk).values().get()
    assert admin_client_for_city.post(url, {"status": "closed"}).status_code == 403
    assert Case.objects.filter(pk=case.pk).values().get() == before
    assert (
        admin_client_for_city.post(reverse("admin:cases_case_delete", args=[case.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert Case.objects.filter(pk=case.pk).exists()


def test_an_administrator_adds_a_routing_rule(world: CaseWorld, admin_client_for_city: Client) -> None:
    data: dict[str, Any] = {
        "minor_class": world.manhole.pk,
        "district": world.city.a.district.pk,
        "lead_unit": world.city.department.pk,
        "priority": 1,
        "is_active": "on",
    }
    response = admin_client_for_city.post(reverse("admin:cases_routingrule_add"), data)
    assert response.status_code == 302, response.content
    rule = RoutingRule.objects.get(district=world.city.a.district)
    assert (rule.minor_class, rule.lead_unit) == (world.manhole, world.city.department)


def test_a_routing_rule_must_name_one_class_level(world: CaseWorld, admin_client_for_city: Client) -> None:
    data = {"lead_unit": world.city.department.pk, "priority": 0, "is_active": "on"}
    response = admin_client_for_city.post(reverse("admin:cases_routingrule_add"), data)
    assert response.status_code == 200  # the form comes back with the error
    assert RoutingRule.objects.count() == 1  # the world's rule only


def test_an_administrator_switches_to_major_event_mode_through_the_admin(admin_client: Any) -> None:
    from cases.alerts import Mode, OperatingMode, operating_mode_current

    response = admin_client.post(
        reverse("admin:cases_operatingmode_add"), {"mode": Mode.MAJOR_EVENT, "note": "上合峰会保障"}
    )

    assert response.status_code == 302
    assert operating_mode_current() == Mode.MAJOR_EVENT
    row = OperatingMode.objects.get()
    assert row.set_by.username == "admin"
