"""The lifelines admin: a new device token is shown once and works; revoking stops the device; facilities are
placed in their district from the map."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from lifelines.models import Device, Facility, Sensor, SensorType
from organisations.models import User
from tests.lifelines.conftest import INGEST_URL, Station

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_() -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(User.objects.create_superuser("root", password="x" * 12))
    return client


def reading(minutes_ago: float = 1) -> list[dict]:
    ts = (timezone.now() - timedelta(minutes=minutes_ago)).astimezone(UTC).isoformat()
    return [{"sensor": "HX1-T1", "ts": ts, "value": 70}]


def test_issuing_a_token_shows_it_once_and_the_device_can_report_with_it(
    station: Station, admin_client_: Client, device_client: Callable
) -> None:
    url = reverse("admin:lifelines_device_changelist")

    response = admin_client_.post(url, {"action": "issue_tokens", "_selected_action": [station.device.pk]})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    tokens = re.findall(r'<code class="device-token">([^<]+)</code>', response.content.decode())
    assert len(tokens) == 1
    assert device_client(tokens[0]).post(INGEST_URL, reading(), format="json").status_code == 200
    assert device_client(station.token).post(INGEST_URL, reading(2), format="json").status_code == 401
    # Not readable back: the change page shows the prefix only.
    page = admin_client_.get(reverse("admin:lifelines_device_change", args=[station.device.pk])).content.decode()
    assert tokens[0].split(".")[0] in page and tokens[0].split(".")[1] not in page


def test_revoking_stops_the_device(station: Station, admin_client_: Client, device_client: Callable) -> None:
    url = reverse("admin:lifelines_device_changelist")

    response = admin_client_.post(
        url, {"action": "revoke_tokens", "_selected_action": [station.device.pk]}, follow=True
    )

    assert response.status_code == 200
    assert Device.objects.get(pk=station.device.pk).revoked_at is not None
    assert device_client(station.token).post(INGEST_URL, reading(), format="json").status_code == 401


def test_a_facility_saved_from_the_map_lands_in_its_district_and_street(
    station: Station, admin_client_: Client
) -> None:
    point = station.city.b.cells[0].geom.point_on_surface
    url = reverse("admin:lifelines_facility_add")
    data = {
        "code": "GS-0001",
        "name": "测试燃气调压站",
        "domain": "gas",
        "kind": "gas_station",
        "location": f'{{"type": "Point", "coordinates": [{point.x}, {point.y}]}}',
        "address": "",
        "attributes": "{}",
        "owner_unit": "",
        "sensors-TOTAL_FORMS": "0",
        "sensors-INITIAL_FORMS": "0",
    }

    response = admin_client_.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    facility = Facility.objects.get(code="GS-0001")
    assert (facility.district_id, facility.street_id) == (station.city.b.district.pk, station.city.b.streets[0].pk)


def test_a_facility_outside_the_city_is_refused(station: Station, admin_client_: Client) -> None:
    data = {
        "code": "GS-0002",
        "name": "海上",
        "domain": "gas",
        "kind": "gas_station",
        "location": '{"type": "Point", "coordinates": [100.0, 10.0]}',
        "attributes": "{}",
        "sensors-TOTAL_FORMS": "0",
        "sensors-INITIAL_FORMS": "0",
    }

    response = admin_client_.post(reverse("admin:lifelines_facility_add"), data)

    assert response.status_code == 200
    assert "outside every district" in response.content.decode()
    assert not Facility.objects.filter(code="GS-0002").exists()


@pytest.mark.parametrize("model", [Facility, Sensor, SensorType, Device])
def test_every_list_and_change_page_loads(station: Station, admin_client_: Client, model: type) -> None:
    opts = model._meta
    obj = model.objects.first()

    assert admin_client_.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).status_code == 200
    assert (
        admin_client_.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])).status_code == 200
    )
