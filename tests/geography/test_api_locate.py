"""/api/v1/locate/: where a point lies, in WGS 84 or GCJ-02, and clear refusals."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from geography.coords import wgs84_to_gcj02
from organisations.models import Role
from tests.factories import SmallCity, person, small_city

IN_FIRST_CELL = (120.3005, 36.0005)  # inside 市南区's first grid cell (120.300-120.301, 36.000-36.001)


@pytest.fixture
def town(db: Any) -> SmallCity:
    return small_city()


@pytest.fixture
def client(town: SmallCity) -> APIClient:
    client = APIClient()
    client.force_login(person(Role.INSPECTOR, town.a.workstations[0]))
    return client


def test_it_names_the_cell_community_street_and_district_of_a_point(town: SmallCity, client: APIClient) -> None:
    lon, lat = IN_FIRST_CELL

    response = client.get("/api/v1/locate/", {"lon": lon, "lat": lat})

    assert response.status_code == 200
    assert response.json() == {
        "lon": lon,
        "lat": lat,
        "grid_cell": {"id": town.a.cells[0].pk, "code": town.a.cells[0].code},
        "community": {"id": town.a.communities[0].pk, "code": "370202001001", "name": town.a.communities[0].name},
        "street": {"id": town.a.streets[0].pk, "code": "370202001", "name": "市南区第1街道"},
        "district": {"id": town.a.district.pk, "code": "370202", "name": "市南区"},
    }


def test_a_point_outside_the_grid_still_gets_its_community(town: SmallCity, client: APIClient) -> None:
    body = client.get("/api/v1/locate/", {"lon": 120.35, "lat": 36.03}).json()

    assert body["grid_cell"] is None
    assert body["community"]["code"] == town.b.communities[0].code
    assert body["district"]["code"] == "370203"


def test_gcj02_input_is_converted_to_wgs84_before_locating(town: SmallCity, client: APIClient) -> None:
    gcj_lon, gcj_lat = wgs84_to_gcj02(*IN_FIRST_CELL)

    converted = client.get("/api/v1/locate/", {"lon": gcj_lon, "lat": gcj_lat, "srs": "gcj02"}).json()
    taken_as_wgs84 = client.get("/api/v1/locate/", {"lon": gcj_lon, "lat": gcj_lat})

    assert converted["grid_cell"]["code"] == town.a.cells[0].code
    assert converted["lon"] == pytest.approx(IN_FIRST_CELL[0], abs=1e-7)
    assert converted["lat"] == pytest.approx(IN_FIRST_CELL[1], abs=1e-7)
    # The GCJ-02 offset is hundreds of metres: read as WGS 84, the same numbers miss the 100 m cell.
    assert taken_as_wgs84.status_code == 200
    assert taken_as_wgs84.json()["grid_cell"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": 36.0}, "lon"),
        ({"lon": 120.3}, "lat"),
        ({"lon": "east", "lat": 36.0}, "lon"),
        ({"lon": 120.3, "lat": 95}, "lat"),
        ({"lon": 181, "lat": 36.0}, "lon"),
        ({"lon": 120.3, "lat": 36.0, "srs": "bd09"}, "srs"),
    ],
)
def test_missing_or_malformed_parameters_are_a_400_naming_the_parameter(
    town: SmallCity, client: APIClient, params: dict[str, Any], field: str
) -> None:
    response = client.get("/api/v1/locate/", params)

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_a_point_outside_the_city_is_a_404_with_a_message(town: SmallCity, client: APIClient) -> None:
    response = client.get("/api/v1/locate/", {"lon": 116.39, "lat": 39.91})  # Beijing

    assert response.status_code == 404
    assert response.json()["detail"]


def test_a_device_may_locate(town: SmallCity) -> None:
    device = person(Role.DEVICE, town.a.centre)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=device).key}")

    response = client.get("/api/v1/locate/", {"lon": IN_FIRST_CELL[0], "lat": IN_FIRST_CELL[1]})

    assert response.status_code == 200
    assert response.json()["district"]["code"] == "370202"
