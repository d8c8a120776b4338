"""The readings table's monthly partitions: created ahead, dropped whole once past the retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from lifelines.services import reading_partitions, reading_partitions_maintain, readings_ingest
from lifelines.tasks import maintain_partitions
from tests.lifelines.conftest import Station, stored

pytestmark = pytest.mark.django_db


def month_name(moment: datetime) -> str:
    return f"lifelines_reading_p{moment.astimezone(UTC):%Y%m}"


def names() -> set[str]:
    return {p.name for p in reading_partitions()}


def add_months(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.month - 1 + months, 12)
    return moment.replace(year=moment.year + year, month=month + 1, day=1)


def test_the_migration_leaves_this_month_and_the_next_ones_ready() -> None:
    now = timezone.now().astimezone(UTC)

    assert {month_name(add_months(now, n)) for n in (-1, 0, 1, 2)} <= names()


def test_maintenance_creates_the_months_ahead() -> None:
    now = timezone.now().astimezone(UTC)
    far = add_months(now, 3)
    assert month_name(far) not in names()

    report = reading_partitions_maintain(now=now, months_ahead=3)

    assert month_name(far) in names()
    assert month_name(far) in report.created
    assert reading_partitions_maintain(now=now, months_ahead=3).created == []  # idempotent


def test_maintenance_drops_whole_months_past_the_retention_and_keeps_the_rest(station: Station) -> None:
    now = timezone.now()
    old = datetime(2020, 3, 15, 12, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT lifelines_reading_partitions_ensure(%s, %s)", [old, old])
        cursor.execute(
            "INSERT INTO lifelines_reading (sensor_id, ts, value, received_at) VALUES (%s, %s, 1, %s)",
            [station.supply.pk, old, old],
        )
    recent = (now - timedelta(minutes=5)).replace(microsecond=0)
    readings_ingest(device=station.device, items=[{"sensor": "HX1-T1", "ts": recent.isoformat(), "value": 70}])
    assert "lifelines_reading_p202003" in names()

    report = reading_partitions_maintain(now=now, retention_days=3)

    assert "lifelines_reading_p202003" in report.dropped
    assert "lifelines_reading_p202003" not in names()
    assert month_name(now) in names()
    assert stored(station.supply) == [(recent.astimezone(UTC), 70.0)]


def test_a_month_partly_inside_the_retention_is_kept() -> None:
    """A month ends on the 1st: with 10 days' retention on the 5th, last month still has readings to keep."""
    now = datetime(2027, 2, 5, 12, tzinfo=UTC)

    report = reading_partitions_maintain(now=now, retention_days=10)

    assert "lifelines_reading_p202701" not in report.dropped
    assert {"lifelines_reading_p202702", "lifelines_reading_p202703", "lifelines_reading_p202704"} <= names()


def test_partition_bounds_are_whole_utc_months() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lifelines_reading_partitions_ensure(%s, %s)", [datetime(2025, 12, 31, 23, tzinfo=UTC)] * 2
        )
        cursor.execute(
            "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.relname = 'lifelines_reading_p202512'"
        )
        (bound,) = cursor.fetchone()
    partition = next(p for p in reading_partitions() if p.name == "lifelines_reading_p202512")

    assert (partition.start, partition.end) == (datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert "2025-12-01 00:00:00+00" in bound and "2026-01-01 00:00:00+00" in bound


def test_the_beat_task_runs_the_maintenance(settings: Any) -> None:
    settings.LIFELINES_READING_RETENTION_DAYS = 30
    with connection.cursor() as cursor:
        cursor.execute("SELECT lifelines_reading_partitions_ensure(%s, %s)", [datetime(2019, 6, 1, tzinfo=UTC)] * 2)

    result = maintain_partitions.delay().get()

    assert "lifelines_reading_p201906" in result["dropped"]
    assert month_name(timezone.now()) in names()


def test_readings_older_than_the_retention_are_refused(station: Station, settings: Any) -> None:
    settings.LIFELINES_READING_RETENTION_DAYS = 30
    old = (timezone.now() - timedelta(days=31)).isoformat()

    result = readings_ingest(device=station.device, items=[{"sensor": "HX1-T1", "ts": old, "value": 70}])

    assert [r.reason for r in result.refused] == ["too_old"]
