"""The permission matrix: every role, in its own district and in the other, against each kind of record.

A persona holds one role in 市南区's district centre (a citizen holds it without a unit). Staff roles
see their district's records; nobody sees the other district's; citizens and devices see no
internal record at all. Out of scope means 404 on the detail route and absent from the list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import models
from rest_framework.test import APIClient

from geography.models import Component, GridCell, Street
from organisations.models import STAFF_ROLES, Membership, OrgUnit, Role, User
from tests.factories import SmallCity, SmallDistrict, UserFactory, person
from tests.organisations.conftest import listed_ids

ALL_ROLES = list(Role)
OBJECT_KINDS = ["component", "grid_cell", "street", "unit", "person"]
ENDPOINT = {
    "component": "/api/v1/components/",
    "grid_cell": "/api/v1/grid-cells/",
    "street": "/api/v1/streets/",
    "unit": "/api/v1/units/",
    "person": "/api/v1/people/",
}


def target(city: SmallCity, side: SmallDistrict, kind: str) -> models.Model:
    """The record of `kind` in `side`: all in the district's first street."""
    if kind == "component":
        return side.components[0]
    if kind == "grid_cell":
        return side.cells[0]
    if kind == "street":
        return side.streets[0]
    if kind == "unit":
        return side.workstations[0]
    return person(Role.INSPECTOR, side.workstations[0], username=f"colleague-{side.district.code}")


def database_state() -> dict[str, Any]:
    """Every row of the tables a read could conceivably touch, to show a refused read changed nothing."""
    tables: list[type[models.Model]] = [Component, GridCell, Street, OrgUnit, User, Membership]
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in tables}


def assert_visible(client: APIClient, kind: str, obj: models.Model) -> None:
    detail = client.get(f"{ENDPOINT[kind]}{obj.pk}/")
    assert detail.status_code == 200, detail.content
    listing = client.get(ENDPOINT[kind], {"limit": 1000})
    assert listing.status_code == 200
    assert obj.pk in listed_ids(listing)


def assert_hidden(client: APIClient, kind: str, obj: models.Model) -> None:
    before = database_state()
    detail = client.get(f"{ENDPOINT[kind]}{obj.pk}/")
    assert detail.status_code == 404, detail.content
    listing = client.get(ENDPOINT[kind], {"limit": 1000})
    assert listing.status_code == 200
    assert obj.pk not in listed_ids(listing)
    assert database_state() == before


@pytest.mark.parametrize("kind", OBJECT_KINDS)
@pytest.mark.parametrize("side_name", ["own", "other"])
@pytest.mark.parametrize("role", ALL_ROLES)
def test_a_district_role_sees_its_own_district_only_and_only_if_it_is_a_staff_role(
    city: SmallCity, client_for: Callable[[User], APIClient], role: Role, side_name: str, kind: str
) -> None:
    unit = None if role == Role.CITIZEN else city.a.centre
    viewer = person(role, unit)
    side = city.a if side_name == "own" else city.b
    obj = target(city, side, kind)
    client = client_for(viewer)

    if role in STAFF_ROLES and side_name == "own":
        assert_visible(client, kind, obj)
    else:
        assert_hidden(client, kind, obj)


@pytest.mark.parametrize("kind", OBJECT_KINDS)
@pytest.mark.parametrize("side_name", ["own", "other"])
@pytest.mark.parametrize("role", [Role.DISPATCHER, Role.LEADER])
def test_the_city_centre_sees_both_districts(
    city: SmallCity, client_for: Callable[[User], APIClient], role: Role, side_name: str, kind: str
) -> None:
    client = client_for(person(role, city.root))
    side = city.a if side_name == "own" else city.b
    assert_visible(client, kind, target(city, side, kind))


def test_a_department_handler_sees_the_components_its_department_owns_anywhere_and_no_others(
    city: SmallCity, client_for: Callable[[User], APIClient]
) -> None:
    client = client_for(person(Role.HANDLER, city.department))

    for owned in city.department_components:  # one in each district, the second owned by the field unit
        assert_visible(client, "component", owned)
    for unowned in [*city.a.components, *city.b.components]:
        assert_hidden(client, "component", unowned)
    listing = client.get("/api/v1/components/")
    assert listing.json()["count"] == 2


def test_a_department_handler_sees_its_department_subtree_but_not_the_districts(
    city: SmallCity, client_for: Callable[[User], APIClient]
) -> None:
    client = client_for(person(Role.HANDLER, city.department))

    assert_visible(client, "unit", city.department)
    assert_visible(client, "unit", city.field_unit)
    for hidden in [city.root, city.a.centre, city.b.workstations[0]]:
        assert_hidden(client, "unit", hidden)
    assert_hidden(client, "grid_cell", city.a.cells[0])
    assert_hidden(client, "street", city.a.streets[0])


def test_a_field_unit_handler_does_not_see_what_its_parent_department_owns(
    city: SmallCity, client_for: Callable[[User], APIClient]
) -> None:
    client = client_for(person(Role.HANDLER, city.field_unit))

    department_owned, field_unit_owned = city.department_components
    assert_visible(client, "component", field_unit_owned)
    assert_hidden(client, "component", department_owned)
    assert_hidden(client, "unit", city.department)


def test_a_street_workstation_inspector_sees_its_streets_cells_but_not_the_neighbouring_streets(
    city: SmallCity, client_for: Callable[[User], APIClient]
) -> None:
    client = client_for(person(Role.INSPECTOR, city.a.workstations[0]))

    assert_visible(client, "grid_cell", city.a.cells[0])
    assert_hidden(client, "grid_cell", city.a.cells[1])
    assert_visible(client, "street", city.a.streets[0])
    assert_hidden(client, "street", city.a.streets[1])
    assert_visible(client, "component", city.a.components[0])
    assert_hidden(client, "component", city.a.components[1])
    assert_hidden(client, "unit", city.a.centre)


def test_a_street_workstation_sees_the_outline_of_its_district_but_not_the_other_district(
    city: SmallCity, client_for: Callable[[User], APIClient]
) -> None:
    client = client_for(person(Role.INSPECTOR, city.a.workstations[0]))

    districts = client.get("/api/v1/districts/")
    assert listed_ids(districts) == {city.a.district.pk}
    assert client.get(f"/api/v1/districts/{city.b.district.pk}/").status_code == 404
    communities = client.get("/api/v1/communities/")
    assert listed_ids(communities) == {city.a.communities[0].pk}


def test_a_district_centre_sees_components_in_its_district_whoever_owns_them(
    city: SmallCity, client_for: Callable[[User], APIClient]
) -> None:
    client = client_for(person(Role.DISPATCHER, city.a.centre))

    department_owned_in_a, field_unit_owned_in_b = city.department_components
    assert_visible(client, "component", department_owned_in_a)
    assert_hidden(client, "component", field_unit_owned_in_b)


@pytest.mark.parametrize("how", ["superuser", "root administrator"])
def test_superusers_and_root_administrators_see_the_whole_city(
    city: SmallCity, client_for: Callable[[User], APIClient], how: str
) -> None:
    viewer = person(Role.ADMINISTRATOR, city.root) if how == "root administrator" else UserFactory(is_superuser=True)
    client = client_for(viewer)

    for side in city.districts:
        for kind in OBJECT_KINDS:
            assert_visible(client, kind, target(city, side, kind))
    assert client.get("/api/v1/me/").json()["sees_whole_city"] is True


def test_an_administrator_of_a_district_centre_sees_only_that_district(
    city: SmallCity, client_for: Callable[[User], APIClient]
) -> None:
    client = client_for(person(Role.ADMINISTRATOR, city.a.centre))

    assert_visible(client, "grid_cell", city.a.cells[0])
    assert_hidden(client, "grid_cell", city.b.cells[0])
