"""The lifelines simulator: realistic values (within each type's valid range, with the daily cycles people know),
and a short time-compressed run through the real ingest whose injected faults raise and clear alarms."""

from __future__ import annotations

import io
import random
import statistics
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from lifelines.demo import SENSOR_TYPES, lifelines_build
from lifelines.models import Alarm, AlarmLevel, AlarmState, Device, Reading, Sensor
from lifelines.services import readings_ingest
from lifelines.simulator import LOCAL, SimSensor, _value, simulation_load
from tests.factories import small_city

DAY = datetime(2026, 1, 15, tzinfo=LOCAL)


def _sensor(type_code: str, suffix: str = "P2") -> SimSensor:
    spec = next(t for t in SENSOR_TYPES if t.code == type_code)
    return SimSensor(f"X-{suffix}", type_code, spec.interval_s, spec.valid_min, spec.valid_max, 0.3, 0.5, suffix)


def _mean_at(type_code: str, hour: float, rng: random.Random) -> float:
    sensor = _sensor(type_code)
    at = DAY + timedelta(hours=hour)
    return statistics.mean(_value(1, sensor, at + timedelta(minutes=m), rng) for m in range(-20, 21, 2))


def test_every_value_of_a_day_lies_within_its_types_valid_range() -> None:
    rng = random.Random(5)
    for spec in SENSOR_TYPES:
        sensor = _sensor(spec.code)
        values = [_value(1, sensor, DAY + timedelta(minutes=m), rng) for m in range(0, 24 * 60, 5)]
        assert min(values) >= spec.valid_min and max(values) <= spec.valid_max, spec.code


def test_the_daily_cycles_are_visible() -> None:
    rng = random.Random(6)
    # Heating runs hotter in the cold before dawn than in the early afternoon; return follows supply.
    assert _mean_at("heat_supply_temp", 5, rng) - _mean_at("heat_supply_temp", 14, rng) > 5
    assert _mean_at("heat_supply_temp", 14, rng) >= 70 and _mean_at("heat_supply_temp", 5, rng) <= 95
    assert 40 <= _mean_at("heat_return_temp", 14, rng) <= 60
    # Water pressure sags at the morning and evening demand peaks.
    assert _mean_at("water_pressure", 3, rng) - _mean_at("water_pressure", 7.5, rng) > 0.03
    assert _mean_at("water_pressure", 3, rng) - _mean_at("water_pressure", 19, rng) > 0.03
    # Bridges strain more in the rush hour than at night; manhole covers lie flat; gas stays near zero.
    assert _mean_at("bridge_strain", 8, rng) > _mean_at("bridge_strain", 3, rng) + 40
    assert _mean_at("manhole_tilt", 12, rng) < 1
    assert _mean_at("gas_lel", 12, rng) < 2


@pytest.fixture
def demo_city(db: Any) -> Iterator[None]:
    small_city()
    lifelines_build(scale=0.05)
    yield


def _play(simulation: Any, start: datetime, minutes: int) -> None:
    """Minute by minute through the real ingest, each batch received when its minute ends."""
    devices = {d.pk: d for d in Device.objects.all()}
    for minute in range(minutes):
        since, until = start + timedelta(minutes=minute), start + timedelta(minutes=minute + 1)
        for device, items in simulation.advance(since, until):
            result = readings_ingest(device=devices[device.device_id], items=items, received_at=until)
            assert not result.refused, result.as_dict()


def test_a_short_run_through_the_ingest_stays_in_range_and_its_faults_raise_and_clear_alarms(demo_city: None) -> None:
    simulation = simulation_load(seed=11)
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=40)
    simulation.start(start)
    gas = Sensor.objects.filter(sensor_type__code="gas_lel").order_by("code").first()
    silent = Sensor.objects.filter(sensor_type__code="water_pressure").order_by("code").first()
    simulation.fault_inject(sensor_code=gas.code, kind="breach", start=start + timedelta(minutes=5), minutes=10)
    simulation.fault_inject(sensor_code=silent.code, kind="silence", start=start + timedelta(minutes=5), minutes=20)

    _play(simulation, start, 30)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE r.value < t.valid_min OR r.value > t.valid_max)"
            " FROM lifelines_reading r JOIN lifelines_sensor s ON s.id = r.sensor_id"
            " JOIN lifelines_sensortype t ON t.id = s.sensor_type_id"
        )
        total, outside = cursor.fetchone()
    assert total > simulation.sensor_count  # every sensor reported, most several times
    assert outside == 0
    alarm = Alarm.objects.get(sensor=gas)
    assert alarm.level == AlarmLevel.ORANGE  # 28 %LEL: above the orange 20, below the red 50
    assert alarm.state == AlarmState.CLEARED  # back near zero once the leak was over
    assert start + timedelta(minutes=5) <= alarm.raised_at <= start + timedelta(minutes=6)
    gap = Reading.objects.filter(
        sensor=silent, ts__gte=start + timedelta(minutes=5), ts__lt=start + timedelta(minutes=25)
    )
    assert not gap.exists()
    assert Reading.objects.filter(sensor=silent, ts__gte=start + timedelta(minutes=25)).exists()
    assert Alarm.objects.exclude(sensor=gas).filter(kind__in=["bounds", "rate"]).count() == 0, "no false alarms"


def test_the_command_streams_into_the_ingest(demo_city: None) -> None:
    out = io.StringIO()

    call_command("simulate_lifelines", "--minutes", "3", "--speed", "1000", "--seed", "3", "--devices", "5", stdout=out)

    assert Reading.objects.exists()
    assert "readings in" in out.getvalue()
    assert not Device.objects.exclude(token_hash="").exists(), "no tokens for a run that needs none"
