"""locate() against a naive ORM baseline over 2,000 points in a city of 50,000+ grid cells (make bench)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest
from django.contrib.gis.geos import Point
from django.db import connection

from geography.models import Community, District, GridCell, Street
from geography.selectors import locate
from tests.bench.timing import p95 as _p95

POINTS = 2_000
WARM_UP = 200


def _points(n: int) -> list[Point]:
    """One seeded random point in each of n cells picked by a hash of their codes (the same on every run)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT ST_X(p.geom), ST_Y(p.geom)
            FROM (SELECT geom, code FROM geography_gridcell ORDER BY md5(code) LIMIT %s) c
            CROSS JOIN LATERAL ST_Dump(ST_GeneratePoints(c.geom, 1, 20260101)) AS p
            """,
            [n],
        )
        return [Point(x, y, srid=4326) for x, y in cursor.fetchall()]


def _orm_baseline(point: Point) -> tuple[int | None, int | None, int | None, int | None]:
    """The obvious ORM way: the cell, then its community, street and district, one query each."""
    cell = GridCell.objects.filter(geom__covers=point).only("id", "community_id", "street_id", "district_id").first()
    if cell is None:
        return None, None, None, None
    community = Community.objects.only("id").get(pk=cell.community_id)
    street = Street.objects.only("id").get(pk=cell.street_id)
    district = District.objects.only("id").get(pk=cell.district_id)
    return cell.pk, community.pk, street.pk, district.pk


def _time_ms(fn: Callable[[Point], object], points: list[Point]) -> tuple[list[float], list[object]]:
    timings, results = [], []
    for point in points:
        started = time.perf_counter_ns()
        results.append(fn(point))
        timings.append((time.perf_counter_ns() - started) / 1e6)
    return timings, results


@pytest.mark.django_db
def test_locate_is_under_2_ms_at_the_median_in_a_city_of_50000_cells(bench_city: str) -> None:
    cells = GridCell.objects.count()
    assert cells >= 50_000, f"the benchmark needs at least 50,000 grid cells, the seed made {cells}"
    points = _points(POINTS)
    for point in points[:WARM_UP]:  # warm the caches and the connection for both ways alike
        locate(point)
        _orm_baseline(point)

    fast, located = _time_ms(locate, points)
    slow, baseline = _time_ms(_orm_baseline, points)

    # Both ways find the same cell, community, street and district for every point.
    assert [(x.grid_cell_id, x.community_id, x.street_id, x.district_id) for x in located] == baseline
    assert all(x.grid_cell_id is not None for x in located)
    median, p95 = statistics.median(fast), _p95(fast)
    base_median, base_p95 = statistics.median(slow), _p95(slow)
    print(
        f"\nlocate: median {median:.2f} ms, p95 {p95:.2f} ms over {len(points):,} points, {cells:,} cells"
        f" | baseline (ORM, 4 queries): median {base_median:.2f} ms, p95 {base_p95:.2f} ms"
        f" | {base_median / median:.1f}x faster"
    )
    assert median < 2.0
