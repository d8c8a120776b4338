"""The mobile report form's class picker: `?q=` finds a class by its Chinese or English name or its code, and
`frequent/` offers the classes most reported lately in the caller's area first."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rest_framework.test import APIClient

from cases.clock import clock_at
from cases.models import Source
from catalogue.models import MinorClass
from catalogue.serializers import MinorClassSerializer
from organisations.models import Role
from tests.cases.factories import T0, CaseWorld, case_world, event_class, reported
from tests.factories import person

pytestmark = pytest.mark.django_db

CLASSES = "/api/v1/catalogue/classes/"
FREQUENT = "/api/v1/catalogue/classes/frequent/"


def client_for(user: Any) -> APIClient:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


# --- search by name or code


def found(client: APIClient, **query: Any) -> set[tuple[str, str]]:
    response = client.get(CLASSES, {"limit": 1000, **query})
    assert response.status_code == 200
    return {(row["kind"], row["full_code"]) for row in response.json()["results"]}


def test_q_finds_classes_by_chinese_name_english_name_or_code(standard_catalogue: Any) -> None:
    client = client_for(person(Role.CITIZEN, username="shimin"))

    by_chinese = found(client, q="井盖")
    assert {("component", "0101"), ("component", "0102"), ("component", "0103")} <= by_chinese
    assert all(
        "井盖" in MinorClass.objects.get(major__kind=k, major__code=c[:2], code=c[2:]).name for k, c in by_chinese
    )
    assert ("component", "0101") in found(client, q="MANHOLE cover")
    assert found(client, q="0101") == {("component", "0101"), ("event", "0101"), ("service", "0101")}
    assert found(client, q="井盖", kind="event") == set()
    assert found(client, q="没有这种东西") == set()


def test_an_empty_q_lists_everything(standard_catalogue: Any) -> None:
    client = client_for(person(Role.CITIZEN, username="shimin"))

    assert found(client, q=" ") == found(client)


# --- the classes most reported in my area


@pytest.fixture
def world(db: Any) -> CaseWorld:
    return case_world()


def report_many(world: CaseWorld, minor_class: MinorClass, n: int, *, days_ago: float = 1, **kwargs: Any) -> None:
    for _ in range(n):
        reported(world, minor_class=minor_class, at=T0 - dt.timedelta(days=days_ago), **kwargs)


def frequent(user: Any, **query: Any) -> Any:
    with clock_at(T0):
        return client_for(user).get(FREQUENT, query)


def test_the_classes_most_reported_in_my_area_lately_come_first_with_their_counts(world: CaseWorld) -> None:
    other = event_class("02")
    report_many(world, world.litter, 3)
    report_many(world, other, 3, days_ago=89)  # a tie with litter: by code, 0101 first
    report_many(world, world.manhole, 2)
    report_many(world, world.manhole, 5, days_ago=91)  # too long ago
    report_many(world, world.manhole, 4, source=Source.CITIZEN, location=world.in_b)  # another district's

    response = frequent(world.inspector)

    assert response.status_code == 200
    rows = response.json()
    assert [(row["kind"], row["full_code"], row["count"]) for row in rows] == [
        ("event", "0101", 3),
        ("event", "0102", 3),
        ("component", "0101", 2),
    ]
    # The class list's row, plus the count.
    assert set(rows[0]) == set(MinorClassSerializer.Meta.fields) | {"count"}
    assert rows[0]["name"] == world.litter.name and rows[0]["time_limits"]


def test_a_tie_between_kinds_of_the_same_code_goes_by_kind(world: CaseWorld) -> None:
    report_many(world, world.litter, 2)
    report_many(world, world.manhole, 2)

    rows = frequent(world.inspector).json()

    assert [(row["kind"], row["full_code"]) for row in rows] == [("component", "0101"), ("event", "0101")]


def test_limit_caps_the_list(world: CaseWorld) -> None:
    report_many(world, world.litter, 2)
    report_many(world, world.manhole, 1)

    assert [row["full_code"] for row in frequent(world.inspector, limit=1).json()] == ["0101"]
    assert len(frequent(world.inspector).json()) == 2  # 12 by default


def test_a_class_no_longer_in_use_is_not_offered(world: CaseWorld) -> None:
    report_many(world, world.litter, 2)
    report_many(world, world.manhole, 1)
    world.litter.is_active = False
    world.litter.save(update_fields=["is_active"])

    assert [row["kind"] for row in frequent(world.inspector).json()] == ["component"]


def test_each_caller_counts_their_own_area(world: CaseWorld) -> None:
    report_many(world, world.litter, 2)
    report_many(world, world.manhole, 3, source=Source.CITIZEN, location=world.in_b)

    assert [(r["kind"], r["count"]) for r in frequent(world.outsider_clerk).json()] == [("component", 3)]
    assert [(r["kind"], r["count"]) for r in frequent(world.other_inspector).json()] == []  # a's other street
    assert [(r["kind"], r["count"]) for r in frequent(person(Role.CITIZEN, username="shimin")).json()] == []
    leader = person(Role.LEADER, world.city.root, username="shi-lingdao")  # the city centre sees the city
    assert [(r["kind"], r["count"]) for r in frequent(leader).json()] == [("component", 3), ("event", 2)]


@pytest.mark.parametrize("limit", ["0", "51", "many"])
def test_a_bad_limit_is_a_400_naming_it(world: CaseWorld, limit: str) -> None:
    response = frequent(world.inspector, limit=limit)

    assert response.status_code == 400
    assert list(response.json()) == ["limit"]


def test_the_list_costs_a_fixed_number_of_queries(world: CaseWorld, django_assert_max_num_queries: Any) -> None:
    for minor_class in (world.litter, world.manhole, event_class("02"), event_class("03")):
        report_many(world, minor_class, 1)
    client = client_for(world.inspector)

    # Session and user, the scope (2), the counts, the classes and their time limits.
    with clock_at(T0), django_assert_max_num_queries(7):
        assert len(client.get(FREQUENT).json()) == 4
