"""Reads of the lifelines app: the facilities and sensors a user may see, and a sensor's readings for a chart
(raw points for short ranges, buckets aggregated in the database for long ones)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404

from lifelines.models import Facility, Sensor
from organisations.selectors import scope_for


def _facility_scope_q(user: Any, prefix: str = "") -> Q | None:
    """Facilities owned by a unit of the user's subtrees, or lying in the user's divisions (None: all of them).

    The same rule as organisations.selectors.components_visible_to: by foreign-key ids, never by a polygon.
    """
    scope = scope_for(user)
    if scope.city_wide:
        return None
    parts = []
    if scope.unit_ids:
        parts.append(Q(**{f"{prefix}owner_unit_id__in": scope.unit_ids}))
    if scope.district_ids:
        parts.append(Q(**{f"{prefix}district_id__in": scope.district_ids}))
    if scope.street_ids:
        parts.append(Q(**{f"{prefix}street_id__in": scope.street_ids}))
    if scope.community_ids:
        parts.append(Q(**{f"{prefix}community_id__in": scope.community_ids}))
    if not parts:
        return Q(pk__in=[])
    combined = parts[0]
    for part in parts[1:]:
        combined |= part
    return combined


def facilities_visible_to(user: Any) -> QuerySet[Facility]:
    q = _facility_scope_q(user)
    return Facility.objects.all() if q is None else Facility.objects.filter(q)


def sensors_visible_to(user: Any) -> QuerySet[Sensor]:
    q = _facility_scope_q(user, prefix="facility__")
    return Sensor.objects.all() if q is None else Sensor.objects.filter(q)


def with_sensors(facilities: QuerySet[Facility]) -> QuerySet[Facility]:
    """Facilities with their names joined (without the joined rows' polygons) and their sensors prefetched."""
    return (
        facilities.select_related("owner_unit", "district", "street")
        .defer("owner_unit__area", "district__geom", "district__center", "street__geom")
        .prefetch_related(Prefetch("sensors", queryset=Sensor.objects.select_related("sensor_type").order_by("code")))
    )


def get_facility_for_user_or_404(user: Any, pk: Any) -> Facility:
    return get_object_or_404(with_sensors(facilities_visible_to(user)), pk=pk)


def get_sensor_for_user_or_404(user: Any, pk: Any) -> Sensor:
    return get_object_or_404(sensors_visible_to(user).select_related("sensor_type", "facility"), pk=pk)


# --- chart series

# Bucket widths a chart's axis reads well at; past the last, whole days.
_NICE_BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
# Buckets start at local midnight (China Standard Time has no daylight saving), so day buckets are days.
_BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC) - timedelta(hours=8)


def bucket_seconds(start: datetime, end: datetime, max_points: int) -> int:
    """The narrowest readable bucket width that splits [start, end) into at most max_points aligned buckets.

    A range R cut by aligned buckets of width b meets at most ceil(R / b) + 1 of them (a part at each end),
    so b >= R / (max_points - 1) keeps the count within max_points.
    """
    needed = (end - start).total_seconds() / max(max_points - 1, 1)
    for width in _NICE_BUCKETS_S:
        if width >= needed:
            return width
    return math.ceil(needed / 86400) * 86400


@dataclass
class Series:
    resolution: str  # "raw" or "bucket"
    bucket_s: int | None
    points: list[dict[str, Any]]


_RAW_SQL = """
SELECT ts, value FROM lifelines_reading
WHERE sensor_id = %s AND ts >= %s AND ts < %s
ORDER BY ts
LIMIT %s
"""

_BUCKET_SQL = """
SELECT date_bin(make_interval(secs => %s), ts, %s) AS bucket, avg(value), min(value), max(value), count(*)
FROM lifelines_reading
WHERE sensor_id = %s AND ts >= %s AND ts < %s
GROUP BY bucket
ORDER BY bucket
"""


def sensor_series(*, sensor: Sensor, start: datetime, end: datetime, max_points: int) -> Series:
    """A sensor's readings in [start, end): the raw points when there are at most max_points of them, else at
    most max_points buckets with their average, minimum, maximum and count, aggregated in the database.

    The raw try reads at most max_points + 1 rows from the (sensor_id, ts) index, so a long range costs one
    cheap look before the aggregate.
    """
    with connection.cursor() as cursor:
        cursor.execute(_RAW_SQL, [sensor.pk, start, end, max_points + 1])
        rows = cursor.fetchall()
        if len(rows) <= max_points:
            return Series("raw", None, [{"ts": ts, "value": value} for ts, value in rows])
        width = bucket_seconds(start, end, max_points)
        cursor.execute(_BUCKET_SQL, [width, _BUCKET_ORIGIN, sensor.pk, start, end])
        buckets = cursor.fetchall()
    return Series(
        "bucket",
        width,
        [{"ts": ts, "avg": avg, "min": low, "max": high, "count": count} for ts, avg, low, high, count in buckets],
    )
