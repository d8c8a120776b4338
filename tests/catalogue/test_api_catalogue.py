"""The read-only catalogue and routing table in the API: shapes, filters, who may read, no writes."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from cases.models import RoutingRule
from catalogue.models import MinorClass
from organisations.models import Role
from tests.cases.factories import case_world
from tests.factories import person

pytestmark = pytest.mark.django_db

CLASSES = "/api/v1/catalogue/classes/"
RULES = "/api/v1/routing-rules/"


def client_for(user: Any) -> APIClient:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


def test_the_standard_catalogue_lists_each_class_with_kind_criteria_and_limits(
    standard_catalogue: Any, django_assert_max_num_queries: Any
) -> None:
    client = client_for(person(Role.CITIZEN, username="shimin"))
    client.get(CLASSES)  # warm the session

    with django_assert_max_num_queries(6):
        body = client.get(CLASSES, {"kind": "component", "major": "01", "limit": 1000}).json()

    rows = {row["full_code"]: row for row in body["results"]}
    manhole = rows["0101"]
    assert manhole["kind"] == "component" and manhole["name"] == "上水井盖"
    assert manhole["registration_criteria"] and manhole["closure_criteria"]
    assert {limit["stage"] for limit in manhole["time_limits"]} >= {"register", "dispatch", "handle", "check"}
    assert all(row["kind"] == "component" and row["major_code"] == "01" for row in rows.values())


def test_inactive_classes_are_listed_only_on_request(standard_catalogue: Any) -> None:
    retired = MinorClass.objects.select_related("major").get(major__kind="event", major__code="01", code="01")
    retired.is_active = False
    retired.save(update_fields=["is_active"])
    client = client_for(person(Role.CITIZEN, username="shimin"))

    def codes(**query: Any) -> set[str]:
        body = client.get(CLASSES, {"kind": "event", "major": "01", **query}).json()
        return {row["full_code"] for row in body["results"]}

    assert "0101" not in codes()
    assert "0101" in codes(include_inactive="true")


def test_the_catalogue_is_read_only(standard_catalogue: Any) -> None:
    client = client_for(case_world().clerk)
    count = MinorClass.objects.count()
    any_class = MinorClass.objects.first()

    assert client.post(CLASSES, {"name": "x"}, format="json").status_code == 405
    assert client.patch(f"{CLASSES}{any_class.pk}/", {"name": "x"}, format="json").status_code == 405
    assert MinorClass.objects.count() == count
    assert MinorClass.objects.get(pk=any_class.pk).name == any_class.name


def test_staff_read_the_routing_table_and_others_see_it_empty() -> None:
    world = case_world()
    staff = client_for(world.dispatcher).get(RULES).json()["results"]
    citizen = client_for(person(Role.CITIZEN, username="shimin")).get(RULES).json()["results"]

    assert [rule["id"] for rule in staff] == [world.rule.pk]
    assert staff[0]["minor_class_code"] == world.manhole.full_code
    assert staff[0]["lead_unit"] == world.handler_unit.pk
    assert citizen == []


def test_the_routing_table_is_read_only() -> None:
    world = case_world()
    client = client_for(world.dispatcher)

    assert client.post(RULES, {"lead_unit": world.handler_unit.pk}, format="json").status_code == 405
    assert client.delete(f"{RULES}{world.rule.pk}/").status_code == 405
    assert RoutingRule.objects.filter(pk=world.rule.pk, is_active=True).exists()
