"""The alarm lifecycle around the readings: offline sweep, escalation, acknowledge / resolve over the API (scoped),
and the case an alarm opens, which cannot close while the alarm is active."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cases import services as case_services
from cases.models import Case, Source, Status
from lifelines.alarms import alarm_resolve, alarms_escalate, alarms_sweep_offline
from lifelines.models import Alarm, AlarmKind, AlarmLevel, AlarmState, Device, Facility, Sensor, ThresholdRule
from lifelines.services import readings_ingest
from organisations.models import Role
from tests.cases.factories import CaseWorld, advance, case_world
from tests.factories import person
from tests.lifelines.conftest import Station
from tests.lifelines.factories import DeviceFactory, FacilityFactory, SensorFactory

pytestmark = pytest.mark.django_db

ALARMS_URL = "/api/v1/lifelines/alarms/"
NOW = timezone.now().replace(microsecond=0).astimezone(UTC)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def send(device: Device, sensor: Sensor, readings: list[tuple[float, float]]) -> None:
    """(minutes ago, value) readings of one sensor."""
    items = [{"sensor": sensor.code, "ts": ago(minutes).isoformat(), "value": value} for minutes, value in readings]
    result = readings_ingest(device=device, items=items)
    assert not result.refused


# --- offline


def test_the_sweep_raises_one_offline_alarm_for_a_silent_sensor_and_a_reading_clears_it(station: Station) -> None:
    # Every 5 minutes expected; silent for more than 3 intervals is offline.
    Sensor.objects.filter(pk=station.supply.pk).update(last_received_at=ago(16))
    Sensor.objects.filter(pk=station.pressure.pk).update(last_received_at=ago(14))
    Sensor.objects.filter(pk=station.idle.pk).update(last_received_at=ago(60))  # switched off: not watched

    assert alarms_sweep_offline(now=NOW) == 1
    assert alarms_sweep_offline(now=NOW + timedelta(minutes=1)) == 0  # still the same alarm

    [alarm] = Alarm.objects.all()
    assert (alarm.sensor_id, alarm.kind, alarm.state) == (station.supply.pk, AlarmKind.OFFLINE, AlarmState.RAISED)
    send(station.device, station.supply, [(0, 70)])

    alarm.refresh_from_db()
    assert alarm.state == AlarmState.CLEARED
    assert list(alarm.events.values_list("kind", flat=True).order_by("id")) == ["raised", "cleared"]


# --- escalation


def test_an_unacknowledged_alarm_escalates_once_after_its_levels_time(station: Station) -> None:
    ThresholdRule.objects.create(sensor_type=station.supply.sensor_type, level=AlarmLevel.RED, upper=90)
    ThresholdRule.objects.create(sensor_type=station.pressure.sensor_type, level=AlarmLevel.YELLOW, upper=1.5)
    send(station.device, station.supply, [(0, 95)])
    send(station.device, station.pressure, [(0, 1.8)])
    red, yellow = Alarm.objects.order_by("level").reverse()

    assert alarms_escalate(now=NOW + timedelta(minutes=9)) == 0
    assert alarms_escalate(now=NOW + timedelta(minutes=10)) == 1  # red: 10 minutes; yellow: 60
    assert alarms_escalate(now=NOW + timedelta(minutes=20)) == 0  # once

    red.refresh_from_db()
    yellow.refresh_from_db()
    assert (red.escalated_at, red.level) == (NOW + timedelta(minutes=10), AlarmLevel.RED)
    assert yellow.escalated_at is None
    assert red.events.filter(kind="escalated").count() == 1


def test_an_acknowledged_alarm_does_not_escalate(station: Station, client_for: Any) -> None:
    ThresholdRule.objects.create(sensor_type=station.supply.sensor_type, level=AlarmLevel.RED, upper=90)
    send(station.device, station.supply, [(0, 95)])
    alarm = Alarm.objects.get()
    duty = person(Role.DISPATCHER, station.city.a.centre)
    assert client_for(duty).post(f"{ALARMS_URL}{alarm.pk}/acknowledge/", {}, format="json").status_code == 200

    assert alarms_escalate(now=NOW + timedelta(hours=3)) == 0


# --- the API, scoped


@dataclass
class Plant:
    """A heat-exchange station in 市南区's first grid cell, owned by the water department, with one sensor whose
    orange level opens a case of the manhole class."""

    world: CaseWorld
    facility: Facility
    device: Device
    sensor: Sensor


@pytest.fixture
def plant(db: Any) -> Plant:
    world = case_world()
    facility = FacilityFactory(cell=world.city.a.cells[0], owner_unit=world.city.department, name="测试换热站")
    device = DeviceFactory(facility=facility)
    sensor = SensorFactory(code="HX9-T1", facility=facility, device=device)
    for level, upper in ((AlarmLevel.YELLOW, 80), (AlarmLevel.ORANGE, 90)):
        ThresholdRule.objects.create(
            sensor_type=sensor.sensor_type, level=level, upper=upper, hysteresis=2, case_minor_class=world.manhole
        )
    return Plant(world, facility, device, sensor)


def test_the_queue_lists_the_open_alarms_in_scope_with_filters(plant: Plant, client_for: Any) -> None:
    send(plant.device, plant.sensor, [(2, 85)])
    client = client_for(plant.world.dispatcher)

    listed = client.get(ALARMS_URL, {"state": "open", "domain": "heating", "level": "yellow"})
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert (row["sensor_code"], row["level"], row["state"], row["facility_name"]) == (
        "HX9-T1",
        "yellow",
        "raised",
        "测试换热站",
    )
    assert client.get(ALARMS_URL, {"level": "red"}).json()["results"] == []
    bad = client.get(ALARMS_URL, {"level": "purple"})
    assert bad.status_code == 400 and "level" in bad.json()
    assert client_for(plant.world.outsider_dispatcher).get(ALARMS_URL).json()["results"] == []


def test_acknowledge_and_resolve_record_who_and_when(plant: Plant, client_for: Any) -> None:
    send(plant.device, plant.sensor, [(2, 85)])
    alarm = Alarm.objects.get()
    client = client_for(plant.world.dispatcher)

    acked = client.post(f"{ALARMS_URL}{alarm.pk}/acknowledge/", {"note": "已通知值班人员"}, format="json")
    assert acked.status_code == 200
    assert (acked.json()["state"], acked.json()["acknowledged_by"]) == ("acknowledged", plant.world.dispatcher.pk)
    assert client.post(f"{ALARMS_URL}{alarm.pk}/acknowledge/", {}, format="json").status_code == 409

    no_note = client.post(f"{ALARMS_URL}{alarm.pk}/resolve/", {"note": " "}, format="json")
    assert no_note.status_code == 400 and "note" in no_note.json()
    resolved = client.post(f"{ALARMS_URL}{alarm.pk}/resolve/", {"note": "阀门已调整"}, format="json")

    assert resolved.status_code == 200
    alarm.refresh_from_db()
    assert (alarm.state, alarm.resolved_by, alarm.resolution_note) == (
        AlarmState.RESOLVED,
        plant.world.dispatcher,
        "阀门已调整",
    )
    assert alarm.resolved_at is not None and alarm.acknowledged_at is not None
    assert list(alarm.events.values_list("kind", "actor").order_by("id")) == [
        ("raised", None),
        ("acknowledged", plant.world.dispatcher.pk),
        ("resolved", plant.world.dispatcher.pk),
    ]


def test_another_districts_staff_get_404_and_change_nothing(plant: Plant, client_for: Any) -> None:
    send(plant.device, plant.sensor, [(2, 85)])
    alarm = Alarm.objects.get()
    client = client_for(plant.world.outsider_dispatcher)

    assert client.get(f"{ALARMS_URL}{alarm.pk}/").status_code == 404
    assert client.post(f"{ALARMS_URL}{alarm.pk}/acknowledge/", {}, format="json").status_code == 404
    assert client.post(f"{ALARMS_URL}{alarm.pk}/resolve/", {"note": "x"}, format="json").status_code == 404

    alarm.refresh_from_db()
    assert (alarm.state, alarm.acknowledged_by, alarm.resolved_at) == (AlarmState.RAISED, None, None)
    assert alarm.events.count() == 1


# --- the case


def test_an_alarm_reaching_the_case_level_opens_exactly_one_case_linked_both_ways(plant: Plant) -> None:
    send(plant.device, plant.sensor, [(5, 85)])  # yellow: below the case level
    assert Case.objects.count() == 0

    send(plant.device, plant.sensor, [(4, 92)])  # orange
    send(plant.device, plant.sensor, [(3, 95), (2, 93)])  # still orange: no second case

    alarm = Alarm.objects.get()
    [case] = Case.objects.all()
    assert alarm.case == case
    assert case.alarm_ref == f"lifelines:{alarm.pk}"
    assert (case.source, case.minor_class, case.status, case.urgency) == (
        Source.SENSOR_ALARM,
        plant.world.manhole,
        Status.REPORTED,
        "urgent",
    )
    assert case.location.equals(plant.facility.location)
    assert case.district_id == plant.facility.district_id
    assert "市水务局" in case.description
    assert alarm.events.filter(kind="case_opened").count() == 1


def test_the_case_cannot_close_while_its_alarm_is_active_and_closes_once_it_cleared(plant: Plant) -> None:
    send(plant.device, plant.sensor, [(30, 92)])
    alarm = Alarm.objects.get()
    case = advance(plant.world, alarm.case, Status.HANDLED, at=timezone.now())

    with pytest.raises(ValidationError) as refused:
        case_services.case_check(case=case, actor=plant.world.inspector, passed=True)

    assert refused.value.code == "alarm_active"
    assert refused.value.messages == ["The alarm that opened this case is still active."]
    case.refresh_from_db()
    assert case.status == Status.HANDLED

    send(plant.device, plant.sensor, [(1, 70)])  # back inside by the hysteresis: the alarm clears
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.CLEARED
    case_services.case_check(case=case, actor=plant.world.inspector, passed=True)
    case.refresh_from_db()
    assert case.status == Status.CLOSED


def test_a_resolved_alarm_lets_its_case_close(plant: Plant) -> None:
    send(plant.device, plant.sensor, [(30, 92)])
    alarm = Alarm.objects.get()
    case = advance(plant.world, alarm.case, Status.HANDLED, at=timezone.now())
    alarm_resolve(alarm=alarm, actor=plant.world.dispatcher, note="已抢修")

    case_services.case_check(case=case, actor=plant.world.inspector, passed=True)

    case.refresh_from_db()
    assert case.status == Status.CLOSED


def test_an_escalated_alarm_below_the_case_level_opens_its_case(plant: Plant) -> None:
    send(plant.device, plant.sensor, [(0, 85)])  # yellow: no case yet
    alarm = Alarm.objects.get()
    assert alarm.case is None

    assert alarms_escalate(now=alarm.raised_at + timedelta(minutes=60)) == 1

    alarm.refresh_from_db()
    assert alarm.case is not None and alarm.case.alarm_ref == f"lifelines:{alarm.pk}"
    assert alarm.case.urgency == "normal"
