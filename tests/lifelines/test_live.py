"""Alarm changes on the live feed over a real daphne: a breaching reading's alarm reaches the dispatchers of the
facility's district and owner unit, not another district's; acknowledging and clearing follow it."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from django.utils import timezone

from cases.events import CITY_GROUP, PLATFORM_GROUP, district_group, publish_on_commit, unit_group
from lifelines.live import backoff_reset
from lifelines.models import Alarm, AlarmEvent, AlarmLevel, AlarmState, ThresholdRule
from organisations.models import Role
from tests.command import conftest as command_fixtures
from tests.factories import person
from tests.lifelines.conftest import INGEST_URL, Station

# The live feed's fixtures (a session daphne, logged-in sockets) from the command tests.
daphne_port = command_fixtures.daphne_port
live_socket = command_fixtures.live_socket

NOW = timezone.now().replace(microsecond=0).astimezone(UTC)


@pytest.fixture
def live_station(transactional_db: None, station: Station) -> Station:
    """The station, committed (daphne reads it), with a red rule on supply temperature above 90 °C."""
    backoff_reset()
    ThresholdRule.objects.create(sensor_type=station.supply.sensor_type, level=AlarmLevel.RED, upper=90, hysteresis=2)
    return station


def ingest(client: Any, station: Station, *values: float, start_min: int = 10) -> None:
    items = [
        {"sensor": station.supply.code, "ts": (NOW - timedelta(minutes=start_min - i)).isoformat(), "value": value}
        for i, value in enumerate(values)
    ]
    response = client.post(INGEST_URL, items, format="json")
    assert response.status_code == 200 and not response.json()["refused"], response.content


def started(socket: Any) -> Any:
    socket.resume({}, socket.hello["epoch"])
    socket.pong()
    return socket


def alarm_events(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for f in frames if f["type"] == "events" for e in f["events"] if e.get("kind") == "alarm"]


def test_a_breaching_reading_reaches_the_districts_and_owners_dashboards_and_no_other(
    live_station: Station, live_socket: Any, device_client: Any
) -> None:
    city = live_station.city
    district = started(live_socket(person(Role.DISPATCHER, city.a.centre)))
    owner = started(live_socket(person(Role.DISPATCHER, city.department)))
    whole_city = started(live_socket(person(Role.DISPATCHER, city.root)))
    other = started(live_socket(person(Role.DISPATCHER, city.b.centre)))

    ingest(device_client(live_station.token), live_station, 70, 95.5)

    alarm = Alarm.objects.get(sensor=live_station.supply)
    [event] = district.events(district_group(city.a.district.pk), 1)
    assert {k: v for k, v in event.items() if k not in ("seq", "at", "raised_at", "lon", "lat")} == {
        "kind": "alarm",
        "id": alarm.pk,
        "sensor": live_station.supply.pk,
        "sensor_code": "HX1-T1",
        "facility": live_station.facility.pk,
        "facility_name": live_station.facility.name,
        "domain": "heating",
        "alarm_kind": "bounds",
        "level": "red",
        "state": "raised",
        "change": "raised",
        "value": 95.5,
        "unit": "°C",
    }
    assert (event["lon"], event["lat"]) == pytest.approx(live_station.facility.location.coords)
    assert [e["id"] for e in owner.events(unit_group(city.department.pk), 1)] == [alarm.pk]
    assert [e["id"] for e in whole_city.events(CITY_GROUP, 1)] == [alarm.pk]
    publish_on_commit(groups=[PLATFORM_GROUP], message={"kind": "test-marker"})
    seen_by_other = other.until(lambda f: f.get("group") == PLATFORM_GROUP)
    assert alarm_events(seen_by_other) == []
    assert not AlarmEvent.objects.filter(published_at__isnull=True).exists()


def test_acknowledging_and_clearing_are_published_as_the_alarms_new_state(
    live_station: Station, live_socket: Any, device_client: Any, client_for: Any
) -> None:
    dispatcher = person(Role.DISPATCHER, live_station.city.a.centre)
    socket = started(live_socket(dispatcher))
    group = district_group(live_station.city.a.district.pk)
    ingest(device_client(live_station.token), live_station, 96, start_min=10)
    [raised] = socket.events(group, 1)

    answer = client_for(dispatcher).post(f"/api/v1/lifelines/alarms/{raised['id']}/acknowledge/", {}, format="json")
    assert answer.status_code == 200
    [acknowledged] = socket.events(group, 1)
    assert (acknowledged["id"], acknowledged["state"], acknowledged["change"]) == (
        raised["id"],
        "acknowledged",
        "acknowledged",
    )

    ingest(device_client(live_station.token), live_station, 80, start_min=5)  # back inside by the hysteresis
    [cleared] = socket.events(group, 1)
    assert (cleared["id"], cleared["state"], cleared["change"]) == (raised["id"], AlarmState.CLEARED, "cleared")
