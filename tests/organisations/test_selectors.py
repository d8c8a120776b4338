"""organisations.selectors: how roles become a scope, computed once, in a fixed number of queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from organisations import selectors
from organisations.models import Role, UnitType
from organisations.services import membership_grant
from tests.factories import OrgUnitFactory, SmallCity, UserFactory, box, person


def test_a_scope_is_computed_once_per_user_object(city: SmallCity, django_assert_num_queries: Any) -> None:
    viewer = person(Role.DISPATCHER, city.a.centre)

    with django_assert_num_queries(2):  # the roles, then the units of the subtrees
        first = selectors.scope_for(viewer)
    with django_assert_num_queries(0):
        assert selectors.scope_for(viewer) is first


def test_fresh_recomputes_a_scope_after_roles_change(city: SmallCity) -> None:
    viewer = person(Role.DISPATCHER, city.a.centre)
    assert selectors.scope_for(viewer).district_ids == {city.a.district.pk}

    membership_grant(user=viewer, role=Role.DISPATCHER, unit=city.b.centre)

    assert selectors.scope_for(viewer).district_ids == {city.a.district.pk}  # cached for this object
    assert selectors.scope_for(viewer, fresh=True).district_ids == {city.a.district.pk, city.b.district.pk}


def test_a_district_centre_scope_names_its_district_and_subtree_but_not_the_streets_inside(city: SmallCity) -> None:
    scope = selectors.scope_for(person(Role.LEADER, city.a.centre))

    assert not scope.city_wide
    assert scope.unit_paths == (city.a.centre.path,)
    assert scope.unit_ids == {city.a.centre.pk, *(w.pk for w in city.a.workstations)}
    assert scope.district_ids == {city.a.district.pk}
    assert scope.street_ids == frozenset()  # the workstations' streets lie in the district already


def test_nested_memberships_count_their_subtree_once(city: SmallCity) -> None:
    viewer = person(Role.LEADER, city.a.centre)
    membership_grant(user=viewer, role=Role.INSPECTOR, unit=city.a.workstations[0])

    assert selectors.scope_for(viewer).unit_paths == (city.a.centre.path,)


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.DEVICE])
def test_citizens_and_devices_have_an_empty_scope(city: SmallCity, role: Role) -> None:
    viewer = person(role, None if role == Role.CITIZEN else city.root)

    scope = selectors.scope_for(viewer)

    assert scope.is_empty
    assert not selectors.components_visible_to(viewer).exists()
    assert not selectors.visible_units(viewer).exists()
    assert not selectors.people_visible_to(viewer).exists()
    assert not selectors.districts_visible_to(viewer).exists()


def test_anonymous_and_inactive_users_see_nothing(city: SmallCity) -> None:
    inactive = person(Role.DISPATCHER, city.root)
    inactive.is_active = False

    for viewer in (AnonymousUser(), inactive):
        assert selectors.scope_for(viewer) is selectors.NO_SCOPE
        assert not selectors.grid_cells_visible_to(viewer).exists()


def test_a_role_in_an_inactive_unit_gives_no_sight(city: SmallCity) -> None:
    viewer = person(Role.DISPATCHER, city.b.centre)
    city.b.centre.is_active = False
    city.b.centre.save(update_fields=["is_active"])

    assert selectors.scope_for(viewer).is_empty


def test_a_company_with_a_service_area_sees_the_communities_in_it(city: SmallCity) -> None:
    # A heating company serving the east half of 市北区: an area polygon, no administrative jurisdiction.
    company = OrgUnitFactory(
        unit_type=UnitType.COMPANY, parent=city.root, area=box(120.36, 35.99, 120.385, 36.05), code="HEAT"
    )
    viewer = person(Role.HANDLER, company)

    assert selectors.scope_for(viewer).community_ids == {city.b.communities[1].pk}
    assert set(selectors.grid_cells_visible_to(viewer)) == {city.b.cells[1]}
    assert set(selectors.components_visible_to(viewer)) == {city.b.components[1]}


def test_parent_ids_come_from_the_path_in_one_query(city: SmallCity, django_assert_num_queries: Any) -> None:
    viewer = person(Role.LEADER, city.root)
    selectors.scope_for(viewer)

    with django_assert_num_queries(1):
        parents = {u.code: u.parent_id for u in selectors.with_parent_id(selectors.visible_units(viewer))}

    assert parents[city.root.code] is None
    assert parents[city.a.workstations[1].code] == city.a.centre.pk
    assert parents[city.field_unit.code] == city.department.pk


def test_get_for_user_or_404_fetches_and_authorises_together(city: SmallCity) -> None:
    viewer = person(Role.INSPECTOR, city.a.workstations[0])

    assert selectors.get_component_for_user_or_404(viewer, city.a.components[0].pk) == city.a.components[0]
    assert selectors.get_grid_cell_for_user_or_404(viewer, city.a.cells[0].pk) == city.a.cells[0]
    assert selectors.get_street_for_user_or_404(viewer, city.a.streets[0].pk) == city.a.streets[0]
    assert selectors.get_district_for_user_or_404(viewer, city.a.district.pk) == city.a.district
    assert selectors.get_unit_for_user_or_404(viewer, city.a.workstations[0].pk) == city.a.workstations[0]
    assert selectors.get_person_for_user_or_404(viewer, viewer.pk) == viewer
    forbidden = [
        (selectors.get_component_for_user_or_404, city.b.components[0].pk),
        (selectors.get_grid_cell_for_user_or_404, city.a.cells[1].pk),
        (selectors.get_street_for_user_or_404, city.a.streets[1].pk),
        (selectors.get_community_for_user_or_404, city.a.communities[1].pk),
        (selectors.get_district_for_user_or_404, city.b.district.pk),
        (selectors.get_unit_for_user_or_404, city.a.centre.pk),
        (selectors.get_person_for_user_or_404, UserFactory().pk),
    ]
    for get, pk in forbidden:
        with pytest.raises(Http404):
            get(viewer, pk)


def test_people_are_those_with_a_role_in_a_visible_unit(city: SmallCity) -> None:
    viewer = person(Role.DISPATCHER, city.a.centre)
    colleague = person(Role.INSPECTOR, city.a.workstations[1])
    stranger = person(Role.INSPECTOR, city.b.workstations[0])
    citizen = person(Role.CITIZEN)

    visible = set(selectors.people_visible_to(viewer))

    assert visible == {viewer, colleague}
    assert stranger not in visible and citizen not in visible
