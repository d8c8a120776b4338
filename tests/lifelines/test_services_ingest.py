"""readings_ingest: good items stored, bad ones refused with index and reason, resends and late readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from lifelines import services
from lifelines.models import Sensor
from lifelines.services import readings_ingest
from tests.lifelines.conftest import Station, reading_count, stored

pytestmark = pytest.mark.django_db


def at(minutes_ago: float) -> datetime:
    """A whole-second time `minutes_ago` minutes before now (UTC)."""
    return (timezone.now() - timedelta(minutes=minutes_ago)).replace(microsecond=0).astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def latest(sensor: Sensor) -> tuple[Any, Any, Any]:
    sensor.refresh_from_db()
    return sensor.last_value, sensor.last_at, sensor.last_received_at


def test_a_good_batch_is_stored_and_sets_the_latest_values(station: Station) -> None:
    t1, t2 = at(10), at(5)
    items = [
        {"sensor": "HX1-T1", "ts": iso(t1), "value": 71.5},
        {"sensor": "HX1-T1", "ts": iso(t2), "value": 72},
        {"sensor": "HX1-P1", "ts": iso(t2), "value": 0.62},
        {"sensor": "HX1-O1", "ts": iso(t2), "value": True},
    ]

    result = readings_ingest(device=station.device, items=items)

    assert result.as_dict() == {"accepted": 4, "duplicates": 0, "refused": []}
    assert stored(station.supply) == [(t1, 71.5), (t2, 72.0)]
    assert stored(station.pressure) == [(t2, 0.62)]
    assert stored(station.cover) == [(t2, 1.0)]
    value, last_at, received = latest(station.supply)
    assert (value, last_at) == (72.0, t2)
    assert received is not None and received >= t2


def test_a_resent_batch_stores_nothing_twice(station: Station) -> None:
    items = [{"sensor": "HX1-T1", "ts": iso(at(n)), "value": 60 + n} for n in range(1, 6)]
    readings_ingest(device=station.device, items=items)

    again = readings_ingest(device=station.device, items=items)

    assert again.as_dict() == {"accepted": 0, "duplicates": 5, "refused": []}
    assert reading_count() == 5


def test_the_same_reading_twice_in_one_batch_is_stored_once(station: Station) -> None:
    item = {"sensor": "HX1-T1", "ts": iso(at(1)), "value": 65}

    result = readings_ingest(device=station.device, items=[item, dict(item)])

    assert (result.accepted, result.duplicates) == (1, 1)
    assert len(stored(station.supply)) == 1


def test_late_and_out_of_order_readings_are_stored_but_the_latest_stays_the_newest(station: Station) -> None:
    t = [at(50 - 10 * n) for n in range(5)]  # t[0] oldest ... t[4] newest
    readings_ingest(
        device=station.device,
        items=[{"sensor": "HX1-T1", "ts": iso(t[4]), "value": 74}, {"sensor": "HX1-T1", "ts": iso(t[2]), "value": 72}],
    )
    newest = latest(station.supply)

    late = readings_ingest(
        device=station.device,
        items=[{"sensor": "HX1-T1", "ts": iso(t[3]), "value": 73}, {"sensor": "HX1-T1", "ts": iso(t[0]), "value": 70}],
    )

    assert late.accepted == 2
    assert stored(station.supply) == [(t[0], 70.0), (t[2], 72.0), (t[3], 73.0), (t[4], 74.0)]
    value, last_at, received = latest(station.supply)
    assert (value, last_at) == (74.0, t[4]) == newest[:2]
    assert received >= newest[2]  # the sensor was heard from again, even if only with old readings


def test_a_newer_reading_moves_the_latest_value(station: Station) -> None:
    readings_ingest(device=station.device, items=[{"sensor": "HX1-T1", "ts": iso(at(10)), "value": 70}])
    readings_ingest(device=station.device, items=[{"sensor": "HX1-T1", "ts": iso(at(2)), "value": 80}])

    assert latest(station.supply)[:2] == (80.0, at(2))


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"sensor": "NOPE", "ts": "NOW", "value": 1}, "unknown_sensor"),
        ({"sensor": "OTHER-T1", "ts": "NOW", "value": 1}, "other_device"),
        ({"sensor": "HX1-T9", "ts": "NOW", "value": 1}, "inactive_sensor"),
        ({"sensor": "HX1-T1", "ts": "NOW", "value": 151}, "out_of_range"),
        ({"sensor": "HX1-T1", "ts": "NOW", "value": -0.5}, "out_of_range"),
        ({"sensor": "HX1-P1", "ts": "NOW", "value": 9.9}, "out_of_range"),
        ({"sensor": "HX1-O1", "ts": "NOW", "value": 0.5}, "out_of_range"),
        ({"sensor": "HX1-T1", "ts": "NOW", "value": float("nan")}, "bad_value"),
        ({"sensor": "HX1-T1", "ts": "NOW", "value": float("inf")}, "bad_value"),
        ({"sensor": "HX1-T1", "ts": "NOW", "value": "71.5"}, "bad_value"),
        ({"sensor": "HX1-T1", "ts": "NOW", "value": None}, "bad_value"),
        ({"sensor": "HX1-T1", "ts": "NOW", "value": True}, "bad_value"),
        ({"sensor": "HX1-T1", "ts": "NOW"}, "bad_value"),
        ({"sensor": "HX1-T1", "ts": "FUTURE", "value": 70}, "future_ts"),
        ({"sensor": "HX1-T1", "ts": "2026-13-45T99:00:00+08:00", "value": 70}, "bad_ts"),
        ({"sensor": "HX1-T1", "ts": "2026-11-26T10:00:00", "value": 70}, "bad_ts"),  # no time zone
        ({"sensor": "HX1-T1", "ts": "yesterday", "value": 70}, "bad_ts"),
        ({"sensor": "HX1-T1", "ts": None, "value": 70}, "bad_ts"),
        ({"sensor": "HX1-T1", "ts": "OLD", "value": 70}, "too_old"),
        ({"ts": "NOW", "value": 70}, "bad_item"),
        ({"sensor": ["HX1-T1"], "ts": "NOW", "value": 70}, "bad_item"),
    ],
)
def test_a_bad_item_is_refused_with_its_index_and_reason_and_the_good_ones_stored(
    station: Station, item: dict[str, Any], reason: str
) -> None:
    moments = {"NOW": iso(at(1)), "FUTURE": iso(at(-6)), "OLD": iso(at(60 * 24 * 401))}
    bad = {**item, "ts": moments.get(item["ts"], item["ts"])} if "ts" in item else item
    good = [{"sensor": "HX1-T1", "ts": iso(at(3)), "value": 70}, {"sensor": "HX1-P1", "ts": iso(at(3)), "value": 0.5}]

    result = readings_ingest(device=station.device, items=[good[0], bad, good[1]])

    refused = result.as_dict()["refused"]
    assert [(r["index"], r["reason"]) for r in refused] == [(1, reason)]
    assert refused[0]["message"]
    assert result.accepted == 2
    assert reading_count() == 2


def test_every_kind_of_bad_item_in_one_batch_is_listed_in_order(station: Station) -> None:
    now = iso(at(1))
    items: list[Any] = [
        {"sensor": "HX1-T1", "ts": now, "value": 70},
        "not an object",
        {"sensor": "NOPE", "ts": now, "value": 1},
        {"sensor": "HX1-T1", "ts": now, "value": 999},
        {"sensor": "HX1-P1", "ts": now, "value": 0.7},
    ]

    result = readings_ingest(device=station.device, items=items)

    assert result.as_dict()["refused"] == [
        {
            "index": 1,
            "sensor": None,
            "reason": "bad_item",
            "message": "An item must be an object with sensor, ts and value.",
        },
        {"index": 2, "sensor": "NOPE", "reason": "unknown_sensor", "message": "No sensor has this code."},
        {
            "index": 3,
            "sensor": "HX1-T1",
            "reason": "out_of_range",
            "message": "value is outside the sensor type's valid range.",
        },
    ]
    assert result.accepted == 2


def test_a_refused_item_leaves_the_latest_value_alone(station: Station) -> None:
    readings_ingest(device=station.device, items=[{"sensor": "HX1-T1", "ts": iso(at(5)), "value": 70}])
    before = latest(station.supply)

    readings_ingest(device=station.device, items=[{"sensor": "HX1-T1", "ts": iso(at(1)), "value": 500}])

    assert latest(station.supply) == before


@pytest.mark.parametrize(
    "raw",
    [
        "2026-11-26T10:00:00+08:00",
        "2026-11-26T02:00:00Z",
        "2026-11-26T02:00:00.000+00:00",
        1795658400,
        1795658400.0,
        1795658400000,
    ],
)
def test_timestamps_are_read_as_iso_8601_or_unix_seconds_or_milliseconds(station: Station, raw: Any) -> None:
    moment = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    now = moment + timedelta(hours=1)

    result = readings_ingest(
        device=station.device, items=[{"sensor": "HX1-T1", "ts": raw, "value": 70}], received_at=now
    )

    assert result.accepted == 1
    assert stored(station.supply) == [(moment, 70.0)]


def test_readings_of_a_month_without_a_partition_yet_are_stored(station: Station) -> None:
    """A device uploading a buffer from months ago: the month's partition is created on the way."""
    old = at(60 * 24 * 200)

    result = readings_ingest(device=station.device, items=[{"sensor": "HX1-T1", "ts": iso(old), "value": 66}])

    assert result.accepted == 1
    assert stored(station.supply) == [(old, 66.0)]


def test_a_batch_costs_the_same_few_queries_whatever_its_size(station: Station, django_assert_num_queries: Any) -> None:
    readings_ingest(device=station.device, items=[{"sensor": "HX1-T1", "ts": iso(at(500)), "value": 1}])
    small = [{"sensor": "HX1-T1", "ts": iso(at(n)), "value": 60} for n in range(1, 3)]
    big = [{"sensor": "HX1-P1", "ts": iso(at(n / 10)), "value": 0.5} for n in range(3, 1003)]

    # The insert, and the month's partitions (which this test's open transaction never lets the process cache
    # remember); the device's sensors are cached from the first batch. The insert and the threshold evaluation are
    # one transaction (here a SAVEPOINT and its RELEASE); with no rule and no open alarm, evaluation queries nothing.
    with django_assert_num_queries(4):
        readings_ingest(device=station.device, items=small)
    with django_assert_num_queries(4):
        result = readings_ingest(device=station.device, items=big)
    assert result.accepted == 1000


def test_a_sensor_switched_off_is_refused_once_the_devices_cache_expires(
    station: Station, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings_ingest(device=station.device, items=[{"sensor": "HX1-T1", "ts": iso(at(5)), "value": 70}])
    Sensor.objects.filter(pk=station.supply.pk).update(is_active=False)
    monkeypatch.setattr(services, "DEVICE_SENSORS_SECONDS", 0.0)

    result = readings_ingest(device=station.device, items=[{"sensor": "HX1-T1", "ts": iso(at(1)), "value": 71}])

    assert [r.reason for r in result.refused] == ["inactive_sensor"]
