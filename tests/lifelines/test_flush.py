"""The readings table is not Django's to manage: the test database's migrations create it, and the flush between
transactional tests (which truncates Django's tables, the sensors among them) gets on with it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from lifelines.models import Reading, Sensor
from lifelines.services import readings_ingest
from tests.factories import GridCellFactory
from tests.lifelines.factories import DeviceFactory, FacilityFactory, SensorFactory


@pytest.fixture(autouse=True)
def _forget_committed_readings() -> Iterator[None]:
    """Flush leaves the readings table alone (it is not Django's to truncate): take this module's rows away, so
    tests that count readings later in the session see only their own."""
    yield
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM lifelines_reading WHERE sensor_id IN (SELECT id FROM lifelines_sensor)")


def _ingest_once() -> Sensor:
    cell = GridCellFactory()
    device = DeviceFactory(facility=FacilityFactory(cell=cell))
    sensor = SensorFactory(facility=device.facility, device=device)
    ts = (timezone.now() - timedelta(minutes=1)).astimezone(UTC).isoformat()
    result = readings_ingest(device=device, items=[{"sensor": sensor.code, "ts": ts, "value": 20}])
    assert result.accepted == 1
    return sensor


@pytest.mark.django_db(transaction=True)
def test_committed_readings_do_not_break_the_flush_after_a_transactional_test() -> None:
    sensor = _ingest_once()

    assert Reading.objects.filter(sensor=sensor).count() == 1
    sensor.refresh_from_db()
    assert sensor.last_value == 20.0


@pytest.mark.django_db(transaction=True)
def test_the_next_transactional_test_starts_from_flushed_sensors() -> None:
    assert not Sensor.objects.exists()
    sensor = _ingest_once()

    assert Reading.objects.filter(sensor=sensor).count() == 1
