"""Factories for lifelines: sensor types, facilities (placed in a grid cell of the small city), devices, sensors."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from lifelines.models import Device, Domain, Facility, FacilityKind, Metric, Sensor, SensorType, Unit
from tests.factories import inner_point


class SensorTypeFactory(DjangoModelFactory):
    """Defaults to a heat-exchange station's supply temperature, 0-150 °C, every 5 minutes."""

    class Meta:
        model = SensorType
        django_get_or_create = ("code",)

    code = "heat_supply_temp"
    name = "供热供水温度"
    domain = Domain.HEATING
    metric = Metric.SUPPLY_TEMPERATURE
    unit = Unit.CELSIUS
    valid_min = 0.0
    valid_max = 150.0
    expected_interval_s = 300


class FacilityFactory(DjangoModelFactory):
    """A heat-exchange station at a point of `cell` (its divisions then come from Facility.save's locate)."""

    class Meta:
        model = Facility
        exclude = ("cell",)

    cell = None
    code = factory.Sequence(lambda n: f"HX-{n:05d}")
    name = factory.Sequence(lambda n: f"测试{n}号换热站")
    domain = Domain.HEATING
    kind = FacilityKind.HEAT_EXCHANGE_STATION
    location = factory.LazyAttribute(lambda o: inner_point(o.cell.geom))
    owner_unit = None


class DeviceFactory(DjangoModelFactory):
    class Meta:
        model = Device

    code = factory.Sequence(lambda n: f"GW-{n:05d}")
    name = factory.Sequence(lambda n: f"采集网关{n}")
    facility = None


class SensorFactory(DjangoModelFactory):
    class Meta:
        model = Sensor

    code = factory.Sequence(lambda n: f"S-{n:05d}")
    facility = factory.SubFactory(FacilityFactory)
    sensor_type = factory.SubFactory(SensorTypeFactory)
    device = None
    is_active = True
