"""A bridge process killed (SIGKILL) in the middle of a batch: the batch's transaction is rolled back whole (no
reading half-stored), the broker hands the unacknowledged message to the restarted bridge, and the readings are
then stored once, with one alarm, however often the batch is sent again."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from lifelines.models import Alarm, AlarmLevel, RuleCondition, Sensor, ThresholdRule
from tests.lifelines.conftest import Station, stored
from tests.lifelines.test_mqtt_support import DeviceClient, bridge_process, broker_url, output, unique_root

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _forget_committed_readings() -> Iterator[None]:
    yield
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM lifelines_reading WHERE sensor_id IN (SELECT id FROM lifelines_sensor)")


def _backend(app: str, *, waiting: bool) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is otherwise frozen
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
            + (" AND wait_event_type = 'Lock'" if waiting else ""),
            [app],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _until(condition: Any, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pid, datname, application_name, state, wait_event_type, left(query, 60)"
                    " FROM pg_stat_activity"
                    " WHERE backend_type = %s",
                    ["client backend"],
                )
                raise AssertionError(f"{what}: {cursor.fetchall()}")
        time.sleep(0.05)  # polling the database for another process's state, not timing behaviour


def test_a_bridge_killed_mid_batch_loses_nothing_and_raises_no_alarm_twice(station: Station) -> None:
    ThresholdRule.objects.create(
        sensor_type=station.supply.sensor_type, condition=RuleCondition.BOUNDS, level=AlarmLevel.ORANGE, upper=100
    )
    url, root, client_id = broker_url(), unique_root(), f"killed-{uuid.uuid4().hex[:8]}"
    app = f"killed-worker-{uuid.uuid4().hex[:8]}"
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    items = [
        {"sensor": station.supply.code, "ts": (start + timedelta(minutes=i)).isoformat(), "value": v}
        for i, v in enumerate([90.0, 104.0, 106.0, 108.0])
    ] + [{"sensor": station.pressure.code, "ts": start.isoformat(), "value": 0.7}]
    prefix = station.token.split(".")[0]
    device = DeviceClient(url, root)
    device.listen(prefix)
    try:
        with bridge_process(url, root, client_id, keep_session=True, PGAPPNAME=app) as first:
            # Hold the supply sensor's row: the bridge's ingest statement inserts the readings, then waits here.
            with transaction.atomic():
                Sensor.objects.select_for_update().get(pk=station.supply.pk)
                device.publish(prefix, json.dumps({"token": station.token, "readings": items}))
                try:
                    _until(lambda: _backend(app, waiting=True), "the bridge never reached the batch's transaction")
                except AssertionError as error:
                    raise AssertionError(f"{error}\n{output(first)}") from None
                os.killpg(first.pid, signal.SIGKILL)
                first.wait(timeout=30)
            # The orphaned backend finishes its statement, finds its client gone and rolls back.
            _until(lambda: _backend(app, waiting=False) is None, "the killed bridge's transaction never ended")

            assert stored(station.supply) == [] and stored(station.pressure) == []
            assert not Alarm.objects.exists()

        with bridge_process(url, root, client_id):
            answer = device.answer(prefix)  # the broker redelivered the unacknowledged message
            assert answer["accepted"] == 5
            again = device.send(station.token, items)  # and the device resends it too, for good measure

        assert again["duplicates"] == 5 and again["accepted"] == 0
        assert [v for _ts, v in stored(station.supply)] == [90.0, 104.0, 106.0, 108.0]
        assert len(stored(station.pressure)) == 1
        alarm = Alarm.objects.get()
        assert (alarm.sensor_id, alarm.level, alarm.repeats) == (station.supply.pk, AlarmLevel.ORANGE, 2)
    finally:
        device.close()
