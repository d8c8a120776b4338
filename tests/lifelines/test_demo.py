"""lifelines.demo.lifelines_build: a realistic set of facilities, sensors and devices; a second run adds nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Count, F

from lifelines.demo import PLANS, SENSOR_TYPES, lifelines_build
from lifelines.models import Device, Facility, Sensor, SensorType
from organisations.demo import department_codes_by_key
from organisations.models import UnitType
from tests.factories import OrgUnitFactory, small_city

pytestmark = pytest.mark.django_db


@pytest.fixture
def city(db: Any) -> Any:
    city = small_city()
    # The demo organisation's heating company and its field unit in 市北区 (codes as organisations.demo makes them).
    heat = OrgUnitFactory(name="热电集团", code=department_codes_by_key()["heat"], unit_type=UnitType.COMPANY)
    heat_b = OrgUnitFactory(
        name="热电集团市北供热服务站",
        code=f"{heat.code}F01",
        unit_type=UnitType.FIELD_UNIT,
        parent=heat,
        district=city.b.district,
    )
    return city, heat, heat_b


def test_the_demo_builds_facilities_with_one_device_each_reporting_their_sensors(city: Any) -> None:
    small, heat, heat_b = city

    result = lifelines_build(scale=0.05)

    assert not result.skipped and result.created > 0
    assert SensorType.objects.count() == len(SENSOR_TYPES)
    facilities = Facility.objects.all()
    assert {f.kind for f in facilities} == {plan.kind for plan in PLANS}
    assert not facilities.filter(district=None).exists()
    assert not facilities.exclude(district__in=[small.a.district, small.b.district]).exists()
    per_facility = Facility.objects.annotate(n=Count("devices")).values_list("n", flat=True)
    assert set(per_facility) == {1}
    assert Sensor.objects.count() >= Facility.objects.count()
    assert not Sensor.objects.exclude(device__facility=F("facility")).exists()
    assert not Sensor.objects.exclude(expected_interval_s=F("sensor_type__expected_interval_s")).exists()
    heating = Facility.objects.filter(domain="heating")
    assert set(heating.values_list("owner_unit", flat=True)) <= {heat.pk, heat_b.pk}
    assert not heating.filter(district=small.b.district).exclude(owner_unit=heat_b).exists()
    assert not Device.objects.exclude(token_hash="").exists()  # tokens are issued by whoever drives the devices


def test_a_second_run_adds_nothing(city: Any) -> None:
    lifelines_build(scale=0.05)
    counts = (Facility.objects.count(), Sensor.objects.count(), Device.objects.count(), SensorType.objects.count())

    again = lifelines_build(scale=0.05)

    assert again.skipped
    assert (
        Facility.objects.count(),
        Sensor.objects.count(),
        Device.objects.count(),
        SensorType.objects.count(),
    ) == counts


def test_the_full_demo_is_a_few_hundred_facilities_and_about_2000_sensors() -> None:
    facilities = sum(plan.count for plan in PLANS)
    sensors = sum(plan.count * len(plan.sensors) for plan in PLANS)

    assert 300 <= facilities <= 800
    assert 1800 <= sensors <= 2200
