"""Fixtures for the lifelines tests: a heat-exchange station in 市南区 with a device and its sensors, another device,
API clients for devices (by token) and for people (by session)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import translation
from rest_framework.test import APIClient

from lifelines.models import Device, Facility, Metric, Reading, Sensor, Unit
from lifelines.services import device_sensors_cache_clear, device_token_issue, partition_cache_clear
from organisations.models import User
from tests.factories import SmallCity, small_city
from tests.lifelines.factories import DeviceFactory, FacilityFactory, SensorFactory, SensorTypeFactory

INGEST_URL = "/api/v1/lifelines/readings/"


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Per-process caches: partitions a test created roll back with it, each test's devices have other sensors."""
    partition_cache_clear()
    device_sensors_cache_clear()


@dataclass
class Station:
    """市南区's heat-exchange station: its gateway (with `token`) and sensors; a second device with its own sensor."""

    city: SmallCity
    facility: Facility
    device: Device
    token: str
    supply: Sensor  # 0-150 °C
    pressure: Sensor  # 0-2.5 MPa
    cover: Sensor  # a manhole cover switch, bool
    idle: Sensor  # switched off
    other_device: Device
    other_token: str
    other_sensor: Sensor  # reported by other_device


@pytest.fixture
def station(db: Any) -> Station:
    city = small_city()
    facility = FacilityFactory(cell=city.a.cells[0], owner_unit=city.department)
    device = DeviceFactory(facility=facility)
    other = DeviceFactory()
    pressure_type = SensorTypeFactory(
        code="heat_supply_pressure", name="供热供水压力", metric=Metric.PRESSURE, unit=Unit.MPA, valid_max=2.5
    )
    cover_type = SensorTypeFactory(
        code="manhole_open", name="井盖开启", metric=Metric.COVER_OPEN, unit=Unit.BOOLEAN, valid_min=0, valid_max=1
    )
    return Station(
        city=city,
        facility=facility,
        device=device,
        token=device_token_issue(device=device),
        supply=SensorFactory(code="HX1-T1", facility=facility, device=device),
        pressure=SensorFactory(code="HX1-P1", facility=facility, device=device, sensor_type=pressure_type),
        cover=SensorFactory(code="HX1-O1", facility=facility, device=device, sensor_type=cover_type),
        idle=SensorFactory(code="HX1-T9", facility=facility, device=device, is_active=False),
        other_device=other,
        other_token=device_token_issue(device=other),
        other_sensor=SensorFactory(code="OTHER-T1", facility=facility, device=other),
    )


@pytest.fixture
def device_client() -> Callable[[str], APIClient]:
    def make(token: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Device {token}")
        return client

    return make


@pytest.fixture
def client_for(db: Any) -> Callable[[User], APIClient]:
    """An API client signed in (by session, as a browser) as the given user."""

    def make(user: User) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make


def stored(sensor: Sensor) -> list[tuple[Any, float]]:
    """The sensor's stored readings, (ts, value) in time order."""
    return list(Reading.objects.filter(sensor=sensor).order_by("ts").values_list("ts", "value"))


def reading_count() -> int:
    return Reading.objects.count()
