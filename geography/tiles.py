"""Slippy-map tiles over the city's points: Web Mercator tile math shared by the map layers, the components'
cluster pyramid (counted set-based in SQL from geography_component) and the scoped components tile.

A tile z/x/y is cut into CELLS x CELLS cluster cells (one per 32 px of a 256-px tile): the cells of zoom level
z + CELL_BITS, so the cells of tile (x, y) are x << CELL_BITS ... (x + 1) << CELL_BITS - 1 across and the same
down, and a cell's parent one level up is (x >> 1, y >> 1). Up to PYRAMID_MAX_ZOOM a tile's clusters are read
from the pyramid (ComponentClusterTotal for city-wide users, ComponentCluster by scope key for everyone else);
from POINTS_MIN_ZOOM on, the components themselves are sent (found with the GiST index), or, where a tile holds
more than POINTS_CAP, clusters counted live from them.

The pyramid holds about one row per component at its finest level (3.2 million rows for 3.19 million components,
the scope keys split the cells); a full rebuild takes about half a minute at that size.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.contrib.gis.geos import Polygon
from django.db import connection, transaction
from django.db.models import F, FloatField, Func, QuerySet
from django.utils.translation import gettext as _

from catalogue.models import ClassKind, MajorClass
from geography.models import Component, ComponentStatus
from organisations.selectors import components_visible_to, scope_for

MAX_ZOOM = 22
CELL_BITS = 3
CELLS = 1 << CELL_BITS
# Levels CELL_BITS ... PYRAMID_MAX_ZOOM + CELL_BITS are stored. A zoom-16 tile holds 1,500 components on average in
# the full-scale demo city, on hundreds of heap pages of geography_component: counting them live is disk-bound.
PYRAMID_MAX_ZOOM = 16
POINTS_MIN_ZOOM = 17
POINTS_CAP = 5_000
MAX_LAT = 85.0511287798066  # Web Mercator's square world stops here
COORD_DIGITS = 6  # about 0.1 m
# Two clusters of neighbouring cells whose centres lie closer than this (px) would overlap: they are sent as one.
MERGE_PX = 24
# Rebuilds take this transaction-level advisory lock, so two of them never interleave their deletes and inserts.
_REBUILD_LOCK = 0x6765_6F5F_636C  # "geo_cl"

COMPONENT_STATUSES = [ComponentStatus.NORMAL, ComponentStatus.DAMAGED, ComponentStatus.LOST, ComponentStatus.REMOVED]


class Longitude(Func):
    """ST_X of a point in WGS 84."""

    function = "ST_X"
    output_field = FloatField()


class Latitude(Func):
    """ST_Y of a point in WGS 84."""

    function = "ST_Y"
    output_field = FloatField()


class TileError(ValueError):
    """A tile address that does not exist; the message says why, in the user's language."""


@dataclass(frozen=True)
class Tile:
    z: int
    x: int
    y: int

    @classmethod
    def parse(cls, z: str, x: str, y: str) -> Tile:
        """The tile of a URL's z/x/y, or TileError."""
        numbers = {}
        for name, raw in (("z", z), ("x", x), ("y", y)):
            if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
                raise TileError(
                    _("Tile %(name)s must be a whole number, not “%(value)s”.") % {"name": name, "value": raw}
                )
            numbers[name] = int(raw)
        if numbers["z"] > MAX_ZOOM:
            raise TileError(_("Zoom level z must be between 0 and %(max)d.") % {"max": MAX_ZOOM})
        last = (1 << numbers["z"]) - 1
        for name in ("x", "y"):
            if numbers[name] > last:
                raise TileError(
                    _("At zoom level %(z)d, tile %(name)s must be between 0 and %(last)d.")
                    % {"z": numbers["z"], "name": name, "last": last}
                )
        return cls(**numbers)

    @property
    def level(self) -> int:
        """The level of this tile's cluster cells."""
        return self.z + CELL_BITS

    def cell_range(self, level: int) -> tuple[int, int, int, int]:
        """(x0, x1, y0, y1): the cells of `level` (>= z) inside this tile, bounds included."""
        shift = level - self.z
        return self.x << shift, ((self.x + 1) << shift) - 1, self.y << shift, ((self.y + 1) << shift) - 1

    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        return cell_bounds(self.z, self.x, self.x, self.y, self.y)

    def envelope(self) -> Polygon:
        """The tile's box, a hair wider: a prefilter for the GiST index (membership is decided by cell_x/cell_y)."""
        west, south, east, north = self.bounds()
        pad = 1e-9
        box = Polygon.from_bbox((west - pad, south - pad, east + pad, north + pad))
        box.srid = 4326
        return box


def _lon(x: float, level: int) -> float:
    return x / (1 << level) * 360.0 - 180.0


def _lat(y: float, level: int) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / (1 << level)))))


def cell_bounds(level: int, x0: int, x1: int, y0: int, y1: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of the block of cells x0..x1, y0..y1 of `level`."""
    return _lon(x0, level), _lat(y1 + 1, level), _lon(x1 + 1, level), _lat(y0, level)


def cell_of(lon: float, lat: float, level: int) -> tuple[int, int]:
    """The cell of `level` holding a point, as cell_x_sql / cell_y_sql compute it (for tests and bounding boxes)."""
    n = 1 << level
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    x = math.floor((lon + 180.0) / 360.0 * n)
    y = math.floor((0.5 - math.asinh(math.tan(math.radians(lat))) / (2 * math.pi)) * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def cell_x_sql(lon: str, level: int) -> str:
    """SQL: the column of the `level` cell holding longitude `lon` (an SQL expression)."""
    n = 1 << level
    return f"LEAST(GREATEST(floor(({lon} + 180.0) / 360.0 * {n}.0)::int, 0), {n - 1})"


def cell_y_sql(lat: str, level: int) -> str:
    """SQL: the row (from the north) of the `level` cell holding latitude `lat` (an SQL expression)."""
    n = 1 << level
    clamped = f"LEAST(GREATEST({lat}, -{MAX_LAT}), {MAX_LAT})"
    return f"LEAST(GREATEST(floor((0.5 - asinh(tan(radians({clamped}))) / (2.0 * pi())) * {n}.0)::int, 0), {n - 1})"


@contextmanager
def tile_cursor() -> Iterator[Any]:
    """A cursor for a tile's query, planned without JIT: PostgreSQL compiles the expressions of a query it thinks
    costly (a whole city's cases), and the compiling takes 30-60 ms, longer than running the query."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        yield cursor


def coordinate(value: float) -> float:
    return round(value, COORD_DIGITS)


def merge_overlapping(
    clusters: list[list[Any]], z: int, combine: Callable[[list[Any], list[Any]], list[Any]]
) -> list[list[Any]]:
    """Clusters ([lon, lat, count, ...]) whose centres lie within MERGE_PX at zoom z, merged by `combine` (the
    biggest absorbs its neighbours), so that a group of points cut by a cell edge is not drawn as two overlapping
    circles. The counts add up; the position is the count-weighted mean."""
    if MERGE_PX <= 0 or len(clusters) < 2:
        return clusters
    scale = 256.0 * (1 << z)

    def pixel(cluster: list[Any]) -> tuple[float, float]:
        lat = math.radians(max(-MAX_LAT, min(MAX_LAT, cluster[1])))
        return (cluster[0] + 180.0) / 360.0 * scale, (0.5 - math.asinh(math.tan(lat)) / (2 * math.pi)) * scale

    kept: list[tuple[float, float, list[Any]]] = []
    for cluster in sorted(clusters, key=lambda c: -c[2]):
        x, y = pixel(cluster)
        for i, (kx, ky, other) in enumerate(kept):
            if (kx - x) ** 2 + (ky - y) ** 2 < MERGE_PX**2:
                merged = combine(other, cluster)
                kept[i] = (*pixel(merged), merged)
                break
        else:
            kept.append((x, y, cluster))
    return sorted((cluster for _x, _y, cluster in kept), key=lambda c: (-c[1], c[0]))


def weighted_position(a: list[Any], b: list[Any]) -> tuple[float, float]:
    n = a[2] + b[2]
    return coordinate((a[0] * a[2] + b[0] * b[2]) / n), coordinate((a[1] * a[2] + b[1] * b[2]) / n)


# --- the pyramid

FINEST_LEVEL = PYRAMID_MAX_ZOOM + CELL_BITS
COARSEST_LEVEL = CELL_BITS
_KEYS = "major_class_id, district_id, street_id, community_id, owner_unit_id"
_SUMS = "count, damaged, lost, removed, sum_lon, sum_lat"


@dataclass(frozen=True)
class PyramidBuild:
    components: int  # in the whole pyramid after the rebuild
    cells: int  # ComponentCluster rows written
    totals: int  # ComponentClusterTotal rows written
    seconds: float


@transaction.atomic
def component_clusters_rebuild(*, bbox: tuple[float, float, float, float] | None = None) -> PyramidBuild:
    """Count the components' cluster pyramid again: everywhere, or only the cells over `bbox` (west, south,
    east, north in degrees) after components there were added, moved, reclassified or removed (for a move,
    pass a box covering the old and the new place).

    One transaction: map readers keep seeing the previous counts until it commits (DELETE, not TRUNCATE, so
    they are never blocked), and concurrent rebuilds wait for each other.
    """
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_REBUILD_LOCK])
        # Grouping 3 million components into 700,000 cells fits in memory with this; the default spills to disk.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL jit = off")  # compiling these statements costs more than it saves
        ranges = _level_ranges(bbox)
        if bbox is None:
            cursor.execute("DELETE FROM geography_componentcluster")
            cursor.execute("DELETE FROM geography_componentclustertotal")
        else:
            for level, (x0, x1, y0, y1) in ranges.items():
                for table in ("geography_componentcluster", "geography_componentclustertotal"):
                    cursor.execute(
                        f"DELETE FROM {table} WHERE level = %s AND x BETWEEN %s AND %s AND y BETWEEN %s AND %s",
                        [level, x0, x1, y0, y1],
                    )
        cells = _count_finest(cursor, ranges[FINEST_LEVEL], whole=bbox is None)
        for level in range(FINEST_LEVEL - 1, COARSEST_LEVEL - 1, -1):
            x0, x1, y0, y1 = ranges[level]
            cursor.execute(
                f"""
                INSERT INTO geography_componentcluster (level, x, y, {_KEYS}, {_SUMS})
                SELECT %(level)s, x / 2, y / 2, {_KEYS}, sum(count), sum(damaged), sum(lost), sum(removed),
                       sum(sum_lon), sum(sum_lat)
                FROM geography_componentcluster
                WHERE level = %(finer)s AND x BETWEEN %(x0)s * 2 AND %(x1)s * 2 + 1
                  AND y BETWEEN %(y0)s * 2 AND %(y1)s * 2 + 1
                GROUP BY x / 2, y / 2, {_KEYS}
                ORDER BY x / 2, y / 2
                """,
                {"level": level, "finer": level + 1, "x0": x0, "x1": x1, "y0": y0, "y1": y1},
            )
            cells += cursor.rowcount
        totals = 0
        for level, (x0, x1, y0, y1) in ranges.items():
            cursor.execute(
                f"""
                INSERT INTO geography_componentclustertotal (level, x, y, major_class_id, {_SUMS})
                SELECT level, x, y, major_class_id, sum(count), sum(damaged), sum(lost), sum(removed),
                       sum(sum_lon), sum(sum_lat)
                FROM geography_componentcluster
                WHERE level = %s AND x BETWEEN %s AND %s AND y BETWEEN %s AND %s
                GROUP BY level, x, y, major_class_id
                ORDER BY x, y
                """,
                [level, x0, x1, y0, y1],
            )
            totals += cursor.rowcount
        if bbox is None:
            cursor.execute("ANALYZE geography_componentcluster, geography_componentclustertotal")
        cursor.execute(
            "SELECT coalesce(sum(count), 0) FROM geography_componentclustertotal WHERE level = %s", [COARSEST_LEVEL]
        )
        components = cursor.fetchone()[0]
    return PyramidBuild(components=components, cells=cells, totals=totals, seconds=time.monotonic() - started)


def _level_ranges(bbox: tuple[float, float, float, float] | None) -> dict[int, tuple[int, int, int, int]]:
    """The cells to count at each level, finest first: all of them, or those over bbox (one cell wider on each
    side, so a point on the box's edge is recounted even if SQL's floating point puts it in the next cell)."""
    levels = range(FINEST_LEVEL, COARSEST_LEVEL - 1, -1)
    if bbox is None:
        return {level: (0, (1 << level) - 1, 0, (1 << level) - 1) for level in levels}
    west, south, east, north = bbox
    if not (west <= east and south <= north):
        raise ValueError(f"bbox must be (west, south, east, north), got {bbox!r}")
    last = (1 << FINEST_LEVEL) - 1
    x0, y0 = cell_of(west, north, FINEST_LEVEL)
    x1, y1 = cell_of(east, south, FINEST_LEVEL)
    ranges = {FINEST_LEVEL: (max(x0 - 1, 0), min(x1 + 1, last), max(y0 - 1, 0), min(y1 + 1, last))}
    for level in levels[1:]:
        fx0, fx1, fy0, fy1 = ranges[level + 1]
        ranges[level] = (fx0 >> 1, fx1 >> 1, fy0 >> 1, fy1 >> 1)
    return ranges


def _count_finest(cursor: Any, cell_range: tuple[int, int, int, int], *, whole: bool) -> int:
    """The finest level straight from the components (in the range's cells, or all of them)."""
    level = FINEST_LEVEL
    x0, x1, y0, y1 = cell_range
    where, params = "", {"level": level}
    if not whole:
        west, south, east, north = cell_bounds(level, x0, x1, y0, y1)
        where = """
            WHERE c.location && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)
            """
        params.update(west=west - 1e-9, south=south - 1e-9, east=east + 1e-9, north=north + 1e-9)
    cursor.execute(
        f"""
        INSERT INTO geography_componentcluster (level, x, y, {_KEYS}, {_SUMS})
        SELECT %(level)s, p.x, p.y, mn.major_id, p.district_id, p.street_id, p.community_id, p.owner_unit_id,
               count(*),
               count(*) FILTER (WHERE p.status = %(damaged)s),
               count(*) FILTER (WHERE p.status = %(lost)s),
               count(*) FILTER (WHERE p.status = %(removed)s),
               sum(p.lon), sum(p.lat)
        FROM (
            SELECT c.minor_class_id, c.district_id, c.street_id, c.community_id, c.owner_unit_id, c.status,
                   ST_X(c.location) AS lon, ST_Y(c.location) AS lat,
                   {cell_x_sql("ST_X(c.location)", level)} AS x, {cell_y_sql("ST_Y(c.location)", level)} AS y
            FROM geography_component c
            {where}
        ) p
        JOIN catalogue_minorclass mn ON mn.id = p.minor_class_id
        {"" if whole else "WHERE p.x BETWEEN %(x0)s AND %(x1)s AND p.y BETWEEN %(y0)s AND %(y1)s"}
        GROUP BY p.x, p.y, mn.major_id, p.district_id, p.street_id, p.community_id, p.owner_unit_id
        ORDER BY p.x, p.y
        """,
        {
            **params,
            "x0": x0,
            "x1": x1,
            "y0": y0,
            "y1": y1,
            "damaged": ComponentStatus.DAMAGED,
            "lost": ComponentStatus.LOST,
            "removed": ComponentStatus.REMOVED,
        },
    )
    return cursor.rowcount


# --- the components tile

CLUSTER_FIELDS = ["lon", "lat", "count", "by_major", "by_status"]
POINT_FIELDS = ["id", "lon", "lat", "class", "status"]


def component_majors() -> list[tuple[int, str]]:
    """(id, code) of the component major classes, by code: the columns of a cluster's `by_major`."""
    return list(MajorClass.objects.filter(kind=ClassKind.COMPONENT).order_by("code").values_list("id", "code"))


def component_tile(*, user: Any, tile: Tile, majors: Sequence[str] = ()) -> dict[str, Any]:
    """The components `user` may see in `tile` (of the major classes `majors`, codes; all if empty), as the
    map layer draws them: clusters up to POINTS_MIN_ZOOM (and above it where a tile holds more than
    POINTS_CAP), the components themselves above it. Unknown major codes match nothing (the view checks them)."""
    every_major = component_majors()
    major_ids = [pk for pk, code in every_major if code in majors] if majors else []
    body: dict[str, Any] = {
        "z": tile.z,
        "x": tile.x,
        "y": tile.y,
        "total": 0,
        "majors": [code for _pk, code in every_major],
        "statuses": [str(s) for s in COMPONENT_STATUSES],
        "cluster_fields": CLUSTER_FIELDS,
        "clusters": [],
        "point_fields": POINT_FIELDS,
        "points": [],
    }
    if majors and not major_ids:
        return body
    scope = scope_for(user)
    if scope.is_empty:
        return body
    if tile.z <= PYRAMID_MAX_ZOOM:
        rows = _pyramid_rows(scope, tile, major_ids)
    else:
        components = components_visible_to(user).filter(location__bboverlaps=tile.envelope())
        if major_ids:
            components = components.filter(minor_class__major_id__in=major_ids)
        if tile.z >= POINTS_MIN_ZOOM:
            points = _live_points(components, tile)
            if len(points) <= POINTS_CAP:
                body["points"] = points
                body["total"] = len(points)
                return body
        rows = _live_cluster_rows(components, tile)
    clusters, body["total"] = _fold(rows, [code for _pk, code in every_major], dict(every_major))
    body["clusters"] = merge_overlapping(clusters, tile.z, _combine_components)
    return body


def _combine_components(a: list[Any], b: list[Any]) -> list[Any]:
    lon, lat = weighted_position(a, b)
    return [
        lon,
        lat,
        a[2] + b[2],
        [x + y for x, y in zip(a[3], b[3], strict=True)],
        [x + y for x, y in zip(a[4], b[4], strict=True)],
    ]


# x, y, major class id, count, damaged, lost, removed, sum of longitudes, sum of latitudes
ClusterRow = tuple[int, int, int, int, int, int, int, float, float]


def _pyramid_rows(scope: Any, tile: Tile, major_ids: list[int]) -> list[ClusterRow]:
    x0, x1, y0, y1 = tile.cell_range(tile.level)
    params: dict[str, Any] = {"level": tile.level, "x0": x0, "x1": x1, "y0": y0, "y1": y1, "majors": major_ids}
    majors = "AND major_class_id = ANY(%(majors)s::bigint[])" if major_ids else ""
    if scope.city_wide:
        sql = f"""
            SELECT x, y, major_class_id, count, damaged, lost, removed, sum_lon, sum_lat
            FROM geography_componentclustertotal
            WHERE level = %(level)s AND x BETWEEN %(x0)s AND %(x1)s AND y BETWEEN %(y0)s AND %(y1)s {majors}
        """
    else:
        # organisations.selectors.components_visible_to's rule, on the keys the pyramid keeps.
        params.update(
            districts=sorted(scope.district_ids),
            streets=sorted(scope.street_ids),
            communities=sorted(scope.community_ids),
            units=sorted(scope.unit_ids),
        )
        sql = f"""
            SELECT x, y, major_class_id, sum(count), sum(damaged), sum(lost), sum(removed), sum(sum_lon),
                   sum(sum_lat)
            FROM geography_componentcluster
            WHERE level = %(level)s AND x BETWEEN %(x0)s AND %(x1)s AND y BETWEEN %(y0)s AND %(y1)s {majors}
              AND (district_id = ANY(%(districts)s::bigint[]) OR street_id = ANY(%(streets)s::bigint[])
                   OR community_id = ANY(%(communities)s::bigint[]) OR owner_unit_id = ANY(%(units)s::bigint[]))
            GROUP BY x, y, major_class_id
        """
    with tile_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _in_tile_sql(tile: Tile, lon: str = "s.tile_lon", lat: str = "s.tile_lat") -> str:
    return f"{cell_x_sql(lon, tile.z)} = {tile.x} AND {cell_y_sql(lat, tile.z)} = {tile.y}"


def _live_points(components: QuerySet[Component], tile: Tile) -> list[list[Any]]:
    """The components in the tile, POINTS_CAP + 1 at most (one more says "too many")."""
    inner = (
        components.order_by()
        .annotate(
            tile_lon=Longitude("location"),
            tile_lat=Latitude("location"),
            tile_class=F("minor_class__major__code"),
            tile_minor=F("minor_class__code"),
        )
        .values_list("tile_lon", "tile_lat", "id", "tile_class", "tile_minor", "status")
    )
    sql, params = inner.query.sql_with_params()
    with tile_cursor() as cursor:
        cursor.execute(
            f"SELECT s.id, s.tile_lon, s.tile_lat, s.tile_class || s.tile_minor, s.status FROM ({sql}) s"
            f" WHERE {_in_tile_sql(tile)} ORDER BY s.id LIMIT %s",
            (*params, POINTS_CAP + 1),
        )
        return [[pk, coordinate(lon), coordinate(lat), code, status] for pk, lon, lat, code, status in cursor]


def _live_cluster_rows(components: QuerySet[Component], tile: Tile) -> list[ClusterRow]:
    inner = (
        components.order_by()
        .annotate(tile_lon=Longitude("location"), tile_lat=Latitude("location"), tile_major=F("minor_class__major_id"))
        .values_list("tile_lon", "tile_lat", "tile_major", "status")
    )
    sql, params = inner.query.sql_with_params()
    level = tile.level
    with tile_cursor() as cursor:
        # No condition on the cell itself (the row estimate then comes from the box, and the plan is a hash
        # aggregate); the cells of a neighbouring tile, from points on the box's edge, are dropped below.
        cursor.execute(
            f"""
            SELECT {cell_x_sql("s.tile_lon", level)}, {cell_y_sql("s.tile_lat", level)}, s.tile_major, count(*),
                   count(*) FILTER (WHERE s.status = %s), count(*) FILTER (WHERE s.status = %s),
                   count(*) FILTER (WHERE s.status = %s), sum(s.tile_lon), sum(s.tile_lat)
            FROM ({sql}) s
            GROUP BY 1, 2, 3
            """,
            (ComponentStatus.DAMAGED, ComponentStatus.LOST, ComponentStatus.REMOVED, *params),
        )
        return [row for row in cursor.fetchall() if row[0] >> CELL_BITS == tile.x and row[1] >> CELL_BITS == tile.y]


def _fold(rows: list[ClusterRow], major_codes: list[str], code_of: dict[int, str]) -> tuple[list[list[Any]], int]:
    """Rows per (cell, major class) -> one cluster per cell: [lon, lat, count, by_major, by_status]."""
    column = {code: i for i, code in enumerate(major_codes)}
    cells: dict[tuple[int, int], list[Any]] = {}
    for x, y, major_id, count, damaged, lost, removed, sum_lon, sum_lat in rows:
        cell = cells.get((x, y))
        if cell is None:
            cell = cells[(x, y)] = [0.0, 0.0, 0, [0] * len(major_codes), [0, 0, 0, 0]]
        cell[0] += sum_lon
        cell[1] += sum_lat
        cell[2] += count
        major = column.get(code_of.get(major_id, ""))
        if major is not None:
            cell[3][major] += count
        by_status = cell[4]
        by_status[1] += damaged
        by_status[2] += lost
        by_status[3] += removed
    clusters, total = [], 0
    for (_x, _y), (sum_lon, sum_lat, count, by_major, by_status) in sorted(cells.items()):
        if not count:
            continue
        by_status[0] = count - by_status[1] - by_status[2] - by_status[3]
        clusters.append([coordinate(sum_lon / count), coordinate(sum_lat / count), count, by_major, by_status])
        total += count
    return clusters, total
