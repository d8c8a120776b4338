"""GET /api/v1/cases/nearby/: the open cases near where a reporter stands (the mobile report form shows them before
submitting, so the same problem is not reported twice): within the class's duplicate radius, nearest first, at
most five, in the caller's scope."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.gis.geos import Point
from rest_framework.test import APIClient

from cases.models import Case, Status
from geography.coords import wgs84_to_gcj02
from tests.cases.factories import CaseWorld, case_in, reported

pytestmark = pytest.mark.django_db

URL = "/api/v1/cases/nearby/"


def client_for(user: Any) -> APIClient:
    client = APIClient(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


def at(point: Point, **extra: Any) -> dict[str, Any]:
    return {"lon": point.x, "lat": point.y, **extra}


def manholes(world: CaseWorld, point: Point | None = None, **extra: Any) -> dict[str, Any]:
    return at(point or world.point, kind="component", minor_class=world.manhole.full_code, **extra)


def numbers(response: Any) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["number"] for row in response.json()]


def test_it_lists_the_open_cases_of_the_class_within_its_radius_nearest_first(world: CaseWorld) -> None:
    far = reported(world, location=world.near(20), description="井盖破损，边缘翘起" * 10)
    near = reported(world, location=world.near(5))
    reported(world, location=world.near(45))  # beyond the class's 30 m
    case_in(world, Status.CLOSED, location=world.near(2))  # closed: not a duplicate any more
    reported(world, minor_class=world.litter, location=world.near(1))  # another class

    response = client_for(world.inspector).get(URL, manholes(world))

    assert numbers(response) == [near.number, far.number]
    row = response.json()[1]
    assert set(row) == {
        "id",
        "number",
        "status",
        "status_display",
        "minor_class",
        "class_name",
        "description",
        "reported_at",
        "distance_m",
        "lon",
        "lat",
    }
    assert row["id"] == far.pk and row["minor_class"] == "0101" and row["class_name"] == world.manhole.name
    assert (row["status"], row["status_display"]) == (Status.REPORTED, "Awaiting registration")
    assert len(row["description"]) == 80 and row["description"].startswith("井盖破损")
    assert 18 <= row["distance_m"] <= 22 and isinstance(row["distance_m"], int)
    assert (row["lon"], row["lat"]) == (pytest.approx(world.near(20).x), pytest.approx(world.near(20).y))
    assert row["reported_at"].startswith("2026-11-26T10:00:00")


def test_a_class_without_a_duplicate_radius_is_searched_within_50_m(world: CaseWorld) -> None:
    world.manhole.duplicate_radius_m = 0
    world.manhole.save(update_fields=["duplicate_radius_m"])
    inside, outside = reported(world, location=world.near(45)), reported(world, location=world.near(60))

    assert numbers(client_for(world.inspector).get(URL, manholes(world))) == [inside.number]
    assert outside.number not in numbers(client_for(world.inspector).get(URL, manholes(world)))


def test_radius_replaces_the_class_radius_up_to_500_m(world: CaseWorld) -> None:
    cases = [reported(world, location=world.near(m)) for m in (45, 90, 300)]
    client = client_for(world.inspector)

    assert numbers(client.get(URL, manholes(world, radius=100))) == [c.number for c in cases[:2]]
    assert numbers(client.get(URL, manholes(world, radius=500))) == [c.number for c in cases]
    assert numbers(client.get(URL, manholes(world, radius=10))) == []


def test_at_most_five_come_back(world: CaseWorld) -> None:
    cases = [reported(world, location=world.near(m)) for m in (1, 2, 3, 4, 5, 6, 7)]

    assert numbers(client_for(world.inspector).get(URL, manholes(world))) == [c.number for c in cases[:5]]


def test_without_a_class_every_open_case_counts_within_its_own_class_radius(world: CaseWorld) -> None:
    world.litter.duplicate_radius_m = 100
    world.litter.save(update_fields=["duplicate_radius_m"])
    litter = reported(world, minor_class=world.litter, location=world.near(80))
    manhole = reported(world, location=world.near(25))
    reported(world, location=world.near(40))  # a manhole beyond the manhole class's 30 m
    client = client_for(world.inspector)

    assert numbers(client.get(URL, at(world.point))) == [manhole.number, litter.number]
    assert numbers(client.get(URL, at(world.point, kind="event"))) == [litter.number]


def test_a_gcj02_position_is_converted_first(world: CaseWorld) -> None:
    case = reported(world, location=world.near(3))
    lon, lat = wgs84_to_gcj02(world.point.x, world.point.y)

    response = client_for(world.inspector).get(
        URL, {"lon": lon, "lat": lat, "srs": "gcj02", "kind": "component", "minor_class": "0101"}
    )

    assert numbers(response) == [case.number]
    assert response.json()[0]["distance_m"] <= 4  # and the answer is in WGS 84
    assert response.json()[0]["lon"] == pytest.approx(world.near(3).x)


def test_cases_outside_the_callers_scope_are_not_shown(world: CaseWorld) -> None:
    case = reported(world, location=world.near(3))

    assert numbers(client_for(world.clerk).get(URL, manholes(world))) == [case.number]
    assert numbers(client_for(world.other_inspector).get(URL, manholes(world))) == []  # another street's grid
    assert numbers(client_for(world.outsider_clerk).get(URL, manholes(world))) == []  # another district


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"lat": 36.0}, "lon"),
        ({"lon": "east", "lat": 36.0}, "lon"),
        ({"lon": 120.3, "lat": 91}, "lat"),
        ({"lon": 120.3, "lat": 36.0, "kind": "component", "minor_class": "01"}, "minor_class"),
        ({"lon": 120.3, "lat": 36.0, "kind": "component", "minor_class": "9999"}, "minor_class"),
        ({"lon": 120.3, "lat": 36.0, "minor_class": "0101"}, "kind"),
        ({"lon": 120.3, "lat": 36.0, "kind": "thing"}, "kind"),
        ({"lon": 120.3, "lat": 36.0, "radius": 501}, "radius"),
        ({"lon": 120.3, "lat": 36.0, "radius": 0}, "radius"),
        ({"lon": 120.3, "lat": 36.0, "srs": "bd09"}, "srs"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(world: CaseWorld, query: dict[str, Any], field: str) -> None:
    response = client_for(world.inspector).get(URL, query)

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_a_point_outside_the_city_is_a_400_saying_so(world: CaseWorld) -> None:
    response = client_for(world.inspector).get(URL, manholes(world, world.outside_city))

    assert response.status_code == 400
    assert response.json() == {"location": ["The location lies outside the city."]}


def test_the_list_costs_a_fixed_number_of_queries(world: CaseWorld, django_assert_max_num_queries: Any) -> None:
    for m in (1, 2, 3, 4, 5):
        reported(world, location=world.near(m))
    client = client_for(world.inspector)
    client.get(URL, manholes(world))  # the class is now cached

    # Session and user, the caller's scope (2), where the point lies, the cases with their classes.
    with django_assert_max_num_queries(6):
        assert len(client.get(URL, manholes(world)).json()) == 5
    assert Case.objects.count() == 5
