"""The geography layers of /api/v1/: GeoJSON pages, the bbox filter, component filters, query counts."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from geography.api import GeoJsonLimitOffsetPagination
from geography.models import ComponentStatus
from organisations.models import Role
from tests.factories import ComponentFactory, MinorClassFactory, SmallCity, person, small_city


@pytest.fixture
def town(db: Any) -> SmallCity:
    return small_city()


@pytest.fixture
def leader(town: SmallCity) -> APIClient:
    """A city-centre leader: sees the whole (small) city."""
    client = APIClient()
    client.force_login(person(Role.LEADER, town.root))
    return client


def ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    return {feature["id"] for feature in response.json()["features"]}


def test_layers_are_geojson_feature_collections_with_limit_offset_pages(town: SmallCity, leader: APIClient) -> None:
    body = leader.get("/api/v1/grid-cells/", {"limit": 3}).json()

    assert body["type"] == "FeatureCollection"
    assert body["count"] == 4
    assert len(body["features"]) == 3
    assert "offset=3" in body["next"]
    feature = body["features"][0]
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert feature["properties"]["code"] == town.a.cells[0].code


def test_a_component_is_a_point_feature_and_its_detail_lists_photos(town: SmallCity, leader: APIClient) -> None:
    component = town.a.components[0]

    listed = leader.get("/api/v1/components/", {"code": component.code}).json()["features"][0]
    detail = leader.get(f"/api/v1/components/{component.pk}/").json()

    assert listed["geometry"] == {"type": "Point", "coordinates": [component.location.x, component.location.y]}
    assert listed["properties"]["minor_class_code"] == "0101"
    assert "photos" not in listed["properties"]
    assert detail["properties"]["photos"] == []


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        ("grid-cells", lambda t: {t.a.cells[0].pk}),
        ("components", lambda t: {t.a.components[0].pk, t.department_components[0].pk}),
        ("streets", lambda t: {t.a.streets[0].pk}),
        ("districts", lambda t: {t.a.district.pk}),
    ],
)
def test_in_bbox_keeps_the_features_whose_box_meets_it(
    town: SmallCity, leader: APIClient, layer: str, expected: Any
) -> None:
    # A small box around 市南区's first grid cell, well inside its first street.
    bbox = "120.2995,35.9995,120.3015,36.0015"

    assert ids(leader.get(f"/api/v1/{layer}/", {"in_bbox": bbox})) == expected(town)


def test_in_bbox_outside_the_city_finds_nothing(town: SmallCity, leader: APIClient) -> None:
    assert ids(leader.get("/api/v1/components/", {"in_bbox": "100,20,100.1,20.1"})) == set()


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "1,2,3,4,5"])
def test_a_malformed_bbox_is_a_400(town: SmallCity, leader: APIClient, bbox: str) -> None:
    response = leader.get("/api/v1/grid-cells/", {"in_bbox": bbox})

    assert response.status_code == 400
    assert "in_bbox" in response.json()["detail"]


def test_the_bbox_filter_stays_inside_the_users_scope(town: SmallCity) -> None:
    client = APIClient()
    client.force_login(person(Role.INSPECTOR, town.a.workstations[0]))

    assert ids(client.get("/api/v1/grid-cells/", {"in_bbox": "120,35,121,37"})) == {town.a.cells[0].pk}


def test_components_filter_by_code_prefix_class_status_district_and_cell(town: SmallCity, leader: APIClient) -> None:
    streetlamp = MinorClassFactory(major__code="01", code="02", name="路灯")
    lamp = ComponentFactory(grid_cell=town.b.cells[1], minor_class=streetlamp, status=ComponentStatus.DAMAGED)
    b_components = {*(c.pk for c in town.b.components), town.department_components[1].pk, lamp.pk}

    def query(**params: Any) -> set[int]:
        return ids(leader.get("/api/v1/components/", params))

    assert query(code_prefix="370203") == b_components
    assert query(code=lamp.code) == {lamp.pk}
    assert query(code=lamp.code[:-1]) == set()  # exact, not a prefix
    assert query(minor_class="0102") == {lamp.pk}
    assert query(status="damaged") == {lamp.pk}
    assert query(district=town.b.district.pk) == b_components
    assert query(grid_cell=town.b.cells[1].pk) == {town.b.components[1].pk, lamp.pk}
    assert query(owner_unit=town.field_unit.pk) == {town.department_components[1].pk}


@pytest.mark.parametrize(("param", "value"), [("minor_class", "01"), ("status", "broken"), ("district", "x")])
def test_a_malformed_component_filter_is_a_400(town: SmallCity, leader: APIClient, param: str, value: str) -> None:
    response = leader.get("/api/v1/components/", {param: value})

    assert response.status_code == 400
    assert param in response.json()


def test_a_page_is_capped_at_1000_features() -> None:
    paginator = GeoJsonLimitOffsetPagination()
    request = Request(APIRequestFactory().get("/api/v1/components/", {"limit": 100_000}))

    assert paginator.get_limit(request) == 1000


@pytest.mark.parametrize("viewer", ["city leader", "district dispatcher", "department handler"])
def test_the_components_list_costs_the_same_queries_whatever_the_page_size(
    town: SmallCity, django_assert_max_num_queries: Any, viewer: str
) -> None:
    unit = {"city leader": town.root, "district dispatcher": town.a.centre, "department handler": town.department}
    client = APIClient()
    client.force_login(person(Role.DISPATCHER if viewer != "department handler" else Role.HANDLER, unit[viewer]))
    for cell in town.a.cells:
        ComponentFactory.create_batch(20, grid_cell=cell, owner_unit=town.department)

    counts = []
    for limit in (2, 40):
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/v1/components/", {"limit": limit})
        assert len(response.json()["features"]) == limit
        counts.append(len(queries))

    assert counts[0] == counts[1]
    # session + user, roles, subtree units, count, page
    with django_assert_max_num_queries(6):
        client.get("/api/v1/components/", {"limit": 100})
