"""GET /api/v1/lifelines/facilities/ and sensors/{id}/readings/: scoped by the caller's organisation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from lifelines.models import Domain, FacilityKind
from lifelines.services import readings_ingest
from organisations.models import Role
from tests.factories import person
from tests.lifelines.conftest import Station
from tests.lifelines.factories import FacilityFactory

pytestmark = pytest.mark.django_db
LIST_URL = "/api/v1/lifelines/facilities/"


def ids(response: Any) -> set[int]:
    return {feature["id"] for feature in response.json()["features"]}


@pytest.fixture
def b_bridge(station: Station) -> Any:
    """A bridge in 市北区 (b), owned by nobody."""
    return FacilityFactory(
        cell=station.city.b.cells[0], code="BR-1", name="测试桥", domain=Domain.BRIDGE, kind=FacilityKind.BRIDGE
    )


def test_a_facility_lists_as_geojson_with_its_sensors_latest_values(
    station: Station, client_for: Callable, b_bridge: Any
) -> None:
    ts = (timezone.now() - timedelta(minutes=1)).replace(microsecond=0)
    readings_ingest(device=station.device, items=[{"sensor": "HX1-T1", "ts": ts.isoformat(), "value": 71.5}])
    leader = person(Role.LEADER, station.city.root, username="leader")

    response = client_for(leader).get(LIST_URL, {"domain": "heating"})

    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["count"] == 1
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "Point"
    props = feature["properties"]
    assert props["code"] == station.facility.code
    assert props["district"] == station.city.a.district.pk
    assert props["owner_unit_name"] == "市水务局"
    supply = next(s for s in props["sensors"] if s["code"] == "HX1-T1")
    assert supply["last_value"] == 71.5
    assert supply["unit"] == "°C" and supply["metric"] == "supply_temperature"
    assert datetime.fromisoformat(supply["last_at"]) == ts


def test_the_list_filters_by_domain_kind_and_district(station: Station, client_for: Callable, b_bridge: Any) -> None:
    client = client_for(person(Role.LEADER, station.city.root, username="leader"))

    assert ids(client.get(LIST_URL)) == {station.facility.pk, b_bridge.pk}
    assert ids(client.get(LIST_URL, {"kind": "bridge"})) == {b_bridge.pk}
    assert ids(client.get(LIST_URL, {"district": station.city.a.district.pk})) == {station.facility.pk}
    assert client.get(LIST_URL, {"domain": "steam"}).status_code == 400


def test_another_districts_staff_get_404_for_a_facility_and_its_charts(
    station: Station, client_for: Callable, b_bridge: Any
) -> None:
    b_staff = client_for(person(Role.DISPATCHER, station.city.b.centre, username="b-dispatcher"))

    assert b_staff.get(f"{LIST_URL}{station.facility.pk}/").status_code == 404
    assert b_staff.get(f"/api/v1/lifelines/sensors/{station.supply.pk}/readings/").status_code == 404
    assert ids(b_staff.get(LIST_URL)) == {b_bridge.pk}


def test_district_staff_see_the_facilities_lying_in_their_district(station: Station, client_for: Callable) -> None:
    a_staff = client_for(person(Role.DISPATCHER, station.city.a.centre, username="a-dispatcher"))

    response = a_staff.get(f"{LIST_URL}{station.facility.pk}/")

    assert response.status_code == 200
    props = response.json()["properties"]
    assert props["attributes"] == {}
    assert {s["code"] for s in props["sensors"]} == {"HX1-T1", "HX1-P1", "HX1-O1", "HX1-T9", "OTHER-T1"}
    assert next(s for s in props["sensors"] if s["code"] == "HX1-P1")["valid_max"] == 2.5


def test_the_owner_units_staff_see_their_facility_wherever_it_lies(
    station: Station, client_for: Callable, b_bridge: Any
) -> None:
    b_bridge.owner_unit = station.city.field_unit
    b_bridge.save(update_fields=["owner_unit"])
    crew = client_for(person(Role.HANDLER, station.city.field_unit, username="crew"))

    assert ids(crew.get(LIST_URL)) == {b_bridge.pk}
    assert crew.get(f"{LIST_URL}{b_bridge.pk}/").status_code == 200


def test_a_street_workstation_sees_only_its_street(station: Station, client_for: Callable) -> None:
    other_street = station.city.a.workstations[1]
    client = client_for(person(Role.INSPECTOR, other_street, username="other-street"))

    assert client.get(f"{LIST_URL}{station.facility.pk}/").status_code == 404


def test_a_citizen_sees_no_facility(station: Station, client_for: Callable) -> None:
    citizen = client_for(person(Role.CITIZEN, None, username="citizen"))

    assert ids(citizen.get(LIST_URL)) == set()
    assert citizen.get(f"{LIST_URL}{station.facility.pk}/").status_code == 404


def test_anonymous_callers_get_401(station: Station) -> None:
    from rest_framework.test import APIClient

    assert APIClient().get(LIST_URL).status_code == 401


def test_the_list_costs_a_fixed_number_of_queries(
    station: Station, client_for: Callable, django_assert_max_num_queries: Any
) -> None:
    for n in range(5):
        FacilityFactory(cell=station.city.a.cells[1], code=f"HX-X{n}")
    client = client_for(person(Role.LEADER, station.city.root, username="leader"))
    client.get(LIST_URL)  # the session and the scope's first look-ups

    with django_assert_max_num_queries(8):
        response = client.get(LIST_URL)
    assert response.json()["count"] == 6


def test_a_chart_with_a_bad_range_is_400(station: Station, client_for: Callable) -> None:
    client = client_for(person(Role.LEADER, station.city.root, username="leader"))
    url = f"/api/v1/lifelines/sensors/{station.supply.pk}/readings/"

    response = client.get(url, {"from": "2026-11-02T00:00:00+08:00", "to": "2026-11-01T00:00:00+08:00"})
    assert response.status_code == 400
    assert "from" in response.json()
    assert client.get(url, {"max_points": 3}).status_code == 400
    assert "max_points" in client.get(url, {"max_points": "many"}).json()


def test_a_chart_answers_raw_points_for_a_short_range(station: Station, client_for: Callable) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = [{"sensor": "HX1-T1", "ts": (start + timedelta(minutes=n)).isoformat(), "value": n} for n in range(30)]
    readings_ingest(device=station.device, items=items, received_at=start + timedelta(hours=1))
    client = client_for(person(Role.LEADER, station.city.root, username="leader"))

    response = client.get(
        f"/api/v1/lifelines/sensors/{station.supply.pk}/readings/",
        {"from": start.isoformat(), "to": (start + timedelta(minutes=10)).isoformat()},
    )

    body = response.json()
    assert body["resolution"] == "raw" and body["bucket_s"] is None
    assert [p["value"] for p in body["points"]] == list(range(10))
    assert datetime.fromisoformat(body["points"][0]["ts"]) == start
    assert body["sensor"]["code"] == "HX1-T1"
