"""A 30-day chart of one lifeline sensor that reports every minute (43,200 readings), as the facility page asks
for it: GET /api/v1/lifelines/sensors/{id}/readings/?from=&to=&max_points=500, downsampled in the database.
The readings table around it holds a month of 200 other sensors at 5-minute intervals. Baseline in the same run:
a plain count(*) of the same sensor's readings over the same range.
"""

from __future__ import annotations

import datetime as dt
import statistics

import pytest
from django.db import connection
from rest_framework.test import APIClient

from lifelines.models import Sensor
from lifelines.services import _partitions_cover
from organisations.models import OrgUnit, Role, UnitType
from tests.bench.timing import p95, time_ms
from tests.factories import person

DAYS = 30
NEIGHBOURS = 200
RUNS = 60
WARM_UP = 5
TARGET_P95_MS = 200.0


def _fill(sensor_ids: list[int], *, start: dt.datetime, end: dt.datetime, step: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO lifelines_reading (sensor_id, ts, value, received_at)
            SELECT s, t, 75 + 12 * sin(extract(epoch FROM t) / 86400.0 * 2 * pi()) + random() * 2, t
            FROM unnest(%s::bigint[]) s, generate_series(%s::timestamptz, %s::timestamptz, %s::interval) t
            ON CONFLICT DO NOTHING
            """,
            [sensor_ids, start, end, step],
        )
        return cursor.rowcount


@pytest.mark.django_db(transaction=True)
def test_a_30_day_chart_of_a_sensor_reporting_every_minute(bench_city: str) -> None:
    end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    start = end - dt.timedelta(days=DAYS)
    _partitions_cover(start, end)
    sensors = list(Sensor.objects.order_by("id").values_list("id", flat=True)[: NEIGHBOURS + 1])
    assert len(sensors) == NEIGHBOURS + 1, "the benchmark city has its lifeline sensors (seed_demo)"
    charted, neighbours = sensors[0], sensors[1:]
    own = _fill([charted], start=start, end=end - dt.timedelta(minutes=1), step="1 minute")
    others = _fill(neighbours, start=start, end=end, step="5 minutes")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE lifelines_reading")
    assert own == DAYS * 24 * 60

    leader = person(Role.LEADER, OrgUnit.objects.filter(unit_type=UnitType.CITY_CENTRE).first(), username="bench-ll")
    client = APIClient()
    client.force_authenticate(leader)
    url = f"/api/v1/lifelines/sensors/{charted}/readings/"
    query = {"from": start.isoformat(), "to": end.isoformat(), "max_points": 500}

    body = client.get(url, query).json()
    assert body["resolution"] == "bucket" and 0 < len(body["points"]) <= 500, body.get("detail", body.keys())
    assert sum(point["count"] for point in body["points"]) == own

    def chart() -> None:
        response = client.get(url, query)
        assert response.status_code == 200

    def count() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM lifelines_reading WHERE sensor_id = %s AND ts >= %s AND ts < %s",
                [charted, start, end],
            )
            cursor.fetchone()

    time_ms(chart, WARM_UP)
    time_ms(count, WARM_UP)
    chart_ms, count_ms = time_ms(chart, RUNS), time_ms(count, RUNS)
    met = p95(chart_ms) < TARGET_P95_MS
    print(
        f"\n30-day chart of one sensor reporting every minute ({own:,} readings; {others:,} readings of"
        f" {NEIGHBOURS} other sensors beside it), API with max_points=500 ({len(body['points'])} buckets of"
        f" {body['bucket_s']} s), {RUNS} runs: p50 {statistics.median(chart_ms):.1f} ms, p95 {p95(chart_ms):.1f} ms"
        f" | baseline count(*) of the same range: p50 {statistics.median(count_ms):.1f} ms,"
        f" p95 {p95(count_ms):.1f} ms | target p95 < {TARGET_P95_MS:.0f} ms: {'met' if met else 'NOT met'}"
    )
