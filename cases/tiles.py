"""The cases layer of the command centre's map: the caller's open cases in one slippy-map tile, counted live
(cases change every second) into the cluster cells of geography.tiles, or listed one by one when zoomed in.

The clusters read only columns of the partial index `cases_open_map` (open cases: status, location, urgency,
flags, the scope's keys), so the count of a tile holding the whole city's 100,000 open cases is an index-only
scan plus one hash aggregate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.gis.geos import Polygon
from django.db.models import Q, QuerySet

from cases import map_counts
from cases.models import FINAL_STATUSES, OPEN_STATUSES, Case, Status
from cases.selectors import cases_visible_to
from catalogue.models import Urgency
from geography.tiles import (
    CELL_BITS,
    POINTS_CAP,
    Latitude,
    Longitude,
    Tile,
    cell_bounds,
    cell_of,
    cell_x_sql,
    cell_y_sql,
    coordinate,
    merge_overlapping,
    tile_cursor,
    weighted_position,
)
from organisations.selectors import scope_for

# The workflow stages a dispatcher tells apart on the map (the colours of static/js/command.js).
STATE_GROUPS: dict[str, tuple[str, ...]] = {
    "intake": (Status.VERIFYING, Status.REPORTED),
    "dispatch": (Status.REGISTERED, Status.RETURNED, Status.DISPATCHED),
    "handling": (Status.HANDLING, Status.REWORK, Status.EXTENSION_PENDING, Status.ON_HOLD),
    "check": (Status.HANDLED,),
}
assert sorted(s for group in STATE_GROUPS.values() for s in group) == sorted(OPEN_STATUSES), "one group per open status"
URGENCIES = [Urgency.NORMAL, Urgency.URGENT, Urgency.EMERGENCY]  # rising
# The same list as the partial index's condition (cases.models), so PostgreSQL sees the index applies.
FINAL_ORDER = sorted(FINAL_STATUSES)
CASE_POINTS_MIN_ZOOM = 16

CLUSTER_FIELDS = ["lon", "lat", "count", "by_group", "urgency", "overdue", "key"]
POINT_FIELDS = ["id", "number", "lon", "lat", "status", "urgency", "is_overdue", "is_key"]


def open_cases_for_map(
    user: Any,
    *,
    groups: Sequence[str] = (),
    urgencies: Sequence[str] = (),
    district_id: int | None = None,
) -> QuerySet[Case]:
    """The caller's open cases, optionally of some state groups and urgencies, in one district."""
    cases = cases_visible_to(user).exclude(status__in=FINAL_ORDER).order_by()
    if groups:
        cases = cases.filter(status__in=[status for group in groups for status in STATE_GROUPS[group]])
    if urgencies:
        cases = cases.filter(urgency__in=list(urgencies))
    if district_id is not None:
        cases = cases.filter(district_id=district_id)
    return cases


def case_tile(
    *,
    user: Any,
    tile: Tile,
    groups: Sequence[str] = (),
    urgencies: Sequence[str] = (),
    district_id: int | None = None,
) -> dict[str, Any]:
    """The caller's open cases in `tile`: below CASE_POINTS_MIN_ZOOM, clusters (a cell holding a single case
    sends that case as a point); from it on, the cases themselves (clusters again past POINTS_CAP in a tile)."""
    cases = open_cases_for_map(user, groups=groups, urgencies=urgencies, district_id=district_id).filter(
        location__bboverlaps=tile.envelope()
    )
    body: dict[str, Any] = {
        "z": tile.z,
        "x": tile.x,
        "y": tile.y,
        "total": 0,
        "groups": list(STATE_GROUPS),
        "urgencies": [str(u) for u in URGENCIES],
        "cluster_fields": CLUSTER_FIELDS,
        "clusters": [],
        "point_fields": POINT_FIELDS,
        "points": [],
    }
    if tile.z >= CASE_POINTS_MIN_ZOOM:
        points = _points(cases, tile)
        if len(points) <= POINTS_CAP:
            body["points"], body["total"] = points, len(points)
            return body
    if tile.z <= map_counts.MAX_ZOOM and scope_for(user).city_wide:
        # The whole city's cases at city scale: added up from the counts kept ahead (cases.map_counts).
        clusters, singles, total = _counted_clusters(cases, tile, groups, urgencies, district_id)
    else:
        clusters, singles, total = _clusters(cases, tile)
    body["clusters"], body["total"] = merge_overlapping(clusters, tile.z, _combine), total
    if singles:
        numbers = dict(Case.objects.filter(pk__in=[single[0] for single in singles]).values_list("id", "number"))
        body["points"] = [[pk, numbers.get(pk, ""), *rest] for pk, *rest in singles]
    return body


def _combine(a: list[Any], b: list[Any]) -> list[Any]:
    lon, lat = weighted_position(a, b)
    urgency = max(a[4], b[4], key=URGENCIES.index)
    return [lon, lat, a[2] + b[2], [x + y for x, y in zip(a[3], b[3], strict=True)], urgency, a[5] + b[5], a[6] + b[6]]


def _inner_sql(cases: QuerySet[Case], *fields: str) -> tuple[str, tuple[Any, ...]]:
    inner = cases.annotate(tile_lon=Longitude("location"), tile_lat=Latitude("location")).values_list(
        "tile_lon", "tile_lat", *fields
    )
    return inner.query.sql_with_params()


def _urgency_rank(column: str) -> str:
    whens = " ".join(f"WHEN '{u}' THEN {rank}" for rank, u in enumerate(URGENCIES))
    return f"CASE {column} {whens} ELSE 0 END"


def _points(cases: QuerySet[Case], tile: Tile) -> list[list[Any]]:
    """The cases in the tile (POINTS_CAP + 1 at most), least urgent first: the most urgent are drawn last, on top."""
    sql, params = _inner_sql(cases, "id", "number", "status", "urgency", "is_overdue", "is_key")
    with tile_cursor() as cursor:
        cursor.execute(
            f"""
            SELECT s.id, s.number, s.tile_lon, s.tile_lat, s.status, s.urgency, s.is_overdue, s.is_key
            FROM ({sql}) s
            WHERE {cell_x_sql("s.tile_lon", tile.z)} = {tile.x} AND {cell_y_sql("s.tile_lat", tile.z)} = {tile.y}
            ORDER BY {_urgency_rank("s.urgency")}, s.is_overdue, s.id
            LIMIT %s
            """,
            (*params, POINTS_CAP + 1),
        )
        return [
            [pk, number, coordinate(lon), coordinate(lat), status, urgency, overdue, key]
            for pk, number, lon, lat, status, urgency, overdue, key in cursor
        ]


def _clusters(cases: QuerySet[Case], tile: Tile) -> tuple[list[list[Any]], list[list[Any]], int]:
    """(clusters of two or more cases, single cases without their numbers, cases in the tile)."""
    sql, params = _inner_sql(cases, "id", "status", "urgency", "is_overdue", "is_key")
    level = tile.level
    by_group = ", ".join(
        f"count(*) FILTER (WHERE s.status IN ({', '.join('%s' for _ in statuses)}))"
        for statuses in STATE_GROUPS.values()
    )
    group_params = [status for statuses in STATE_GROUPS.values() for status in statuses]
    with tile_cursor() as cursor:
        # Grouped by cell with no condition on the cell: PostgreSQL then estimates the rows from the box alone
        # and picks a hash aggregate. Cells of a neighbouring tile (a point on the box's edge) are dropped below.
        cursor.execute(
            f"""
            SELECT {cell_x_sql("s.tile_lon", level)} AS cx, {cell_y_sql("s.tile_lat", level)} AS cy,
                   count(*), sum(s.tile_lon), sum(s.tile_lat), {by_group}, max({_urgency_rank("s.urgency")}),
                   count(*) FILTER (WHERE s.is_overdue), count(*) FILTER (WHERE s.is_key),
                   min(s.id), min(s.status), bool_or(s.is_overdue), bool_or(s.is_key)
            FROM ({sql}) s
            GROUP BY 1, 2
            """,
            (*group_params, *params),
        )
        rows = [row for row in cursor.fetchall() if row[0] >> CELL_BITS == tile.x and row[1] >> CELL_BITS == tile.y]
    return _fold(rows)


def _counted_clusters(
    cases: QuerySet[Case],
    tile: Tile,
    groups: Sequence[str],
    urgencies: Sequence[str],
    district_id: int | None,
) -> tuple[list[list[Any]], list[list[Any]], int]:
    """What _clusters gives for a city-wide caller, from cases.map_counts instead of the cases: the same cells,
    counts and mean positions. A cell holding one case is looked up in `cases` for its id."""
    counted = map_counts.counted_cells(
        level=tile.level,
        cell_range=tile.cell_range(tile.level),
        statuses=[status for group in groups for status in STATE_GROUPS[group]],
        urgencies=urgencies,
        district_id=district_id,
    )
    group_of = {status: i for i, statuses in enumerate(STATE_GROUPS.values()) for status in statuses}
    cells: dict[tuple[int, int], _Cell] = {}
    for cx, cy, status, urgency, is_overdue, is_key, n, sum_lon, sum_lat in counted:
        cell = cells.get((cx, cy))
        if cell is None:
            cell = cells[(cx, cy)] = _Cell(cx, cy, status)
        cell.add(group_of[status], status, URGENCIES.index(urgency), is_overdue, is_key, n, sum_lon, sum_lat)
    alone = [cell for cell in cells.values() if cell.count == 1]
    if alone:
        boxes = Q()
        for cell in alone:
            west, south, east, north = cell_bounds(tile.level, cell.cx, cell.cx, cell.cy, cell.cy)
            box = Polygon.from_bbox((west - 1e-9, south - 1e-9, east + 1e-9, north + 1e-9))
            box.srid = 4326
            boxes |= Q(location__bboverlaps=box)
        found = cases.filter(boxes).annotate(tile_lon=Longitude("location"), tile_lat=Latitude("location"))
        by_cell = {
            cell_of(lon, lat, tile.level): pk for pk, lon, lat in found.values_list("id", "tile_lon", "tile_lat")
        }
        for cell in alone:
            cell.first_id = by_cell.get((cell.cx, cell.cy))
    # A case counted alone but changed since (gone from the cell) is left out until the next refresh.
    return _fold([cell.row() for cell in cells.values() if cell.count > 1 or cell.first_id is not None])


class _Cell:
    """One cluster cell added up from counted rows; row() is the row of _clusters' query."""

    def __init__(self, cx: int, cy: int, status: str) -> None:
        self.cx, self.cy = cx, cy
        self.count, self.sum_lon, self.sum_lat = 0, 0.0, 0.0
        self.by_group = [0] * len(STATE_GROUPS)
        self.urgency_rank = self.overdue = self.key = 0
        # What the cell's only case is, when it holds one.
        self.first_id: int | None = None
        self.status, self.is_overdue, self.is_key = status, False, False

    def add(
        self, group: int, status: str, urgency_rank: int, is_overdue: bool, is_key: bool, n: int, lon: float, lat: float
    ) -> None:
        self.count += n
        self.sum_lon += lon
        self.sum_lat += lat
        self.by_group[group] += n
        self.urgency_rank = max(self.urgency_rank, urgency_rank)
        self.overdue += n if is_overdue else 0
        self.key += n if is_key else 0
        self.status = min(self.status, status)
        self.is_overdue = self.is_overdue or is_overdue
        self.is_key = self.is_key or is_key

    def row(self) -> list[Any]:
        return [
            self.cx, self.cy, self.count, self.sum_lon, self.sum_lat, *self.by_group, self.urgency_rank,
            self.overdue, self.key, self.first_id, self.status, self.is_overdue, self.is_key,
        ]  # fmt: skip


def _fold(rows: list[Any]) -> tuple[list[list[Any]], list[list[Any]], int]:
    rows.sort(key=lambda row: (row[1], row[0]))
    groups = len(STATE_GROUPS)
    clusters, singles, total = [], [], 0
    for row in rows:
        count, sum_lon, sum_lat = row[2], row[3], row[4]
        counts = list(row[5 : 5 + groups])
        urgency_rank, overdue, key, first_id, status, is_overdue, is_key = row[5 + groups :]
        lon, lat = coordinate(sum_lon / count), coordinate(sum_lat / count)
        urgency = str(URGENCIES[urgency_rank])
        total += count
        if count == 1:
            singles.append([first_id, lon, lat, status, urgency, is_overdue, is_key])
        else:
            clusters.append([lon, lat, count, counts, urgency, overdue, key])
    # Like _points: the most urgent drawn last, on top.
    singles.sort(key=lambda single: (URGENCIES.index(single[4]), single[5], single[0]))
    return clusters, singles, total
