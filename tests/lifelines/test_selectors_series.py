"""A sensor's chart series: raw when short, downsampled in the database (avg/min/max per bucket) when long."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lifelines.selectors import bucket_seconds, sensor_series
from lifelines.services import readings_ingest
from organisations.models import Role
from tests.factories import person
from tests.lifelines.conftest import Station

pytestmark = pytest.mark.django_db
# Local midnight: buckets start at local whole hours, days, ... (see lifelines.selectors._BUCKET_ORIGIN).
START = datetime(2026, 11, 1, tzinfo=ZoneInfo("Asia/Shanghai"))


def ten_hours_every_minute(station: Station) -> None:
    """600 readings: value = minutes since START (so any bucket's avg, min and max are known)."""
    items = [
        {"sensor": "HX1-T1", "ts": (START + timedelta(minutes=n)).isoformat(), "value": n / 10} for n in range(600)
    ]
    result = readings_ingest(device=station.device, items=items, received_at=START + timedelta(hours=11))
    assert result.accepted == 600


def test_a_long_range_comes_back_in_at_most_max_points_buckets_with_their_avg_min_max(station: Station) -> None:
    ten_hours_every_minute(station)

    series = sensor_series(sensor=station.supply, start=START, end=START + timedelta(hours=10), max_points=100)

    assert series.resolution == "bucket"
    assert series.bucket_s == 600  # 10 h / 99 = 364 s, rounded up to a readable 10 minutes
    assert len(series.points) == 60 <= 100
    for k, point in enumerate(series.points):
        assert point["ts"] == START + timedelta(minutes=10 * k)
        assert point["count"] == 10
        assert point["min"] == pytest.approx(k)
        assert point["max"] == pytest.approx(k + 0.9)
        assert point["avg"] == pytest.approx(k + 0.45)


@pytest.mark.parametrize("max_points", [10, 17, 59, 100, 333, 584])
def test_the_bucket_count_never_passes_max_points_even_off_the_bucket_grid(station: Station, max_points: int) -> None:
    ten_hours_every_minute(station)
    start, end = START + timedelta(minutes=7, seconds=13), START + timedelta(hours=9, minutes=53)

    series = sensor_series(sensor=station.supply, start=start, end=end, max_points=max_points)

    assert series.resolution == "bucket"
    assert len(series.points) <= max_points
    assert sum(p["count"] for p in series.points) == 585  # minutes 8 .. 592: every reading in range, once


def test_a_range_with_few_readings_comes_back_raw(station: Station) -> None:
    ten_hours_every_minute(station)

    series = sensor_series(sensor=station.supply, start=START, end=START + timedelta(hours=10), max_points=600)

    assert series.resolution == "raw"
    assert len(series.points) == 600
    assert series.points[1] == {"ts": START + timedelta(minutes=1), "value": pytest.approx(0.1)}


def test_bucket_widths_are_readable_and_keep_the_count() -> None:
    day = datetime(2026, 11, 1, tzinfo=UTC)

    assert bucket_seconds(day, day + timedelta(days=30), 500) == 7200
    assert bucket_seconds(day, day + timedelta(days=365), 500) == 86400
    assert bucket_seconds(day, day + timedelta(days=3650), 500) == 8 * 86400
    assert bucket_seconds(day, day + timedelta(minutes=5), 500) == 1


def test_the_chart_api_answers_buckets_for_a_long_range(station: Station, client_for: Callable) -> None:
    ten_hours_every_minute(station)
    client = client_for(person(Role.LEADER, station.city.root, username="leader"))

    response = client.get(
        f"/api/v1/lifelines/sensors/{station.supply.pk}/readings/",
        {"from": START.isoformat(), "to": (START + timedelta(hours=10)).isoformat(), "max_points": 100},
    )

    body = response.json()
    assert body["resolution"] == "bucket" and body["bucket_s"] == 600
    assert len(body["points"]) == 60
    first = body["points"][0]
    assert datetime.fromisoformat(first["ts"]) == START
    assert (first["min"], first["max"], first["count"]) == (0.0, 0.9, 10)
    assert first["avg"] == pytest.approx(0.45)
