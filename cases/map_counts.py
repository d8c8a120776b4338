"""Open cases counted ahead for the map at city scale.

A city-wide dispatcher opens /command/ on the whole city: six zoom-9 tiles that together hold every open case
(100,000 at full scale), refreshed after every live change on every such screen. Counting them from cases_case
costs 15-100 ms of database time per tile; adding up OpenCaseCell (a few thousand rows: zoom-13 cells x district
x status x urgency x flags) costs about a millisecond and gives the same clusters, since a zoom-13 cell lies
inside exactly one cluster cell of every tile of zoom 10 and below.

The counts are kept by row triggers on cases_case (TRIGGER_SQL, installed by migration 0009): every insert, delete
and update of a counted column appends its open rows' change to OpenCaseCellDelta within the writer's own
transaction, so the counts can never disagree with the committed cases. Appending takes no lock another writer
waits on; `compact_open_case_cells` (Celery beat, every 10 s) folds the deltas into OpenCaseCell, and a reader
adds both, so compaction is only about speed, never correctness.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction

from cases.models import FINAL_STATUSES
from geography.tiles import CELL_BITS, cell_x_sql, cell_y_sql

LEVEL = 13  # the cells counted: zoom-10 tiles' cluster cells, so tiles of zoom <= MAX_ZOOM add them up
MAX_ZOOM = LEVEL - CELL_BITS
KEY = ("cx", "cy", "district_id", "status", "urgency", "is_overdue", "is_key")
_KEY = ", ".join(KEY)
_FINAL = ", ".join(f"'{s}'" for s in sorted(FINAL_STATUSES))


def _append_sql(row: str, sign: int) -> str:
    """Append the change one open, located row (NEW or OLD) makes, counted with `sign`."""
    lon, lat = f"ST_X({row}.location)", f"ST_Y({row}.location)"
    minus = "" if sign > 0 else "-"
    return f"""
        IF {row}.location IS NOT NULL AND {row}.status NOT IN ({_FINAL}) THEN
            INSERT INTO cases_opencasecelldelta ({_KEY}, n, sum_lon, sum_lat)
            VALUES ({cell_x_sql(lon, LEVEL)}, {cell_y_sql(lat, LEVEL)}, COALESCE({row}.district_id, 0),
                    {row}.status, {row}.urgency, {row}.is_overdue, {row}.is_key, {sign}, {minus}{lon}, {minus}{lat});
        END IF;"""


# Row triggers: a case's write appends at most two small rows. An UPDATE fires only when it sets one of the
# counted columns to a new value (transitions touch many other columns; the sweep sets is_overdue in bulk).
_COUNTED = ("status", "location", "urgency", "is_overdue", "is_key", "district_id")
_CHANGED = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _COUNTED)
TRIGGER_SQL = f"""
CREATE OR REPLACE FUNCTION cases_open_case_cells_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN {_append_sql("OLD", -1)}
    END IF;
    IF TG_OP <> 'DELETE' THEN {_append_sql("NEW", 1)}
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER cases_open_case_cells_insert_delete AFTER INSERT OR DELETE ON cases_case
    FOR EACH ROW EXECUTE FUNCTION cases_open_case_cells_track();
CREATE TRIGGER cases_open_case_cells_update AFTER UPDATE OF {", ".join(_COUNTED)} ON cases_case
    FOR EACH ROW WHEN ({_CHANGED}) EXECUTE FUNCTION cases_open_case_cells_track();
"""

TRIGGER_DROP_SQL = """
DROP TRIGGER IF EXISTS cases_open_case_cells_insert_delete ON cases_case;
DROP TRIGGER IF EXISTS cases_open_case_cells_update ON cases_case;
DROP FUNCTION IF EXISTS cases_open_case_cells_track();
"""


def compact_open_case_cells() -> int:
    """Fold the appended changes into OpenCaseCell; the number of changes folded. Safe at any time and beside
    itself: a change is deleted and added in one statement, and cells whose count reaches 0 are removed."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH moved AS (
                DELETE FROM cases_opencasecelldelta RETURNING {_KEY}, n, sum_lon, sum_lat
            ), folded AS (
                SELECT {_KEY}, sum(n) AS n, sum(sum_lon) AS sum_lon, sum(sum_lat) AS sum_lat, count(*) AS changes
                FROM moved GROUP BY {_KEY}
            ), written AS (
                INSERT INTO cases_opencasecell ({_KEY}, n, sum_lon, sum_lat)
                SELECT {_KEY}, n, sum_lon, sum_lat FROM folded ORDER BY {_KEY}
                ON CONFLICT ({_KEY}) DO UPDATE SET
                    n = cases_opencasecell.n + EXCLUDED.n,
                    sum_lon = cases_opencasecell.sum_lon + EXCLUDED.sum_lon,
                    sum_lat = cases_opencasecell.sum_lat + EXCLUDED.sum_lat
            )
            SELECT COALESCE(sum(changes), 0)::int FROM folded
            """
        )
        folded = cursor.fetchone()[0]
        if folded:
            cursor.execute("DELETE FROM cases_opencasecell WHERE n = 0")
    return folded


def rebuild_open_case_cells() -> int:
    """Count OpenCaseCell again from cases_case (after a restore, or to check the triggers); the cells written.
    Writers of cases wait while it runs (a second or two at full scale), so no change falls between the count and
    the deltas."""
    lon, lat = "ST_X(c.location)", "ST_Y(c.location)"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE cases_opencasecelldelta IN EXCLUSIVE MODE")
        cursor.execute("DELETE FROM cases_opencasecelldelta")
        cursor.execute("DELETE FROM cases_opencasecell")
        cursor.execute(
            f"""
            INSERT INTO cases_opencasecell ({_KEY}, n, sum_lon, sum_lat)
            SELECT {cell_x_sql(lon, LEVEL)}, {cell_y_sql(lat, LEVEL)}, COALESCE(c.district_id, 0), c.status,
                   c.urgency, c.is_overdue, c.is_key, count(*), sum({lon}), sum({lat})
            FROM cases_case c
            WHERE c.location IS NOT NULL AND c.status NOT IN ({_FINAL})
            GROUP BY 1, 2, 3, 4, 5, 6, 7
            """
        )
        return cursor.rowcount


def counted_cells(
    *,
    level: int,
    cell_range: tuple[int, int, int, int],
    statuses: Sequence[str] = (),
    urgencies: Sequence[str] = (),
    district_id: int | None = None,
) -> list[tuple[Any, ...]]:
    """The open cases of the whole city in the cells of `level` (<= LEVEL) within `cell_range` (x0, x1, y0, y1),
    per cell and what the map tells apart: (cx, cy, status, urgency, is_overdue, is_key, n, sum_lon, sum_lat)."""
    shift = LEVEL - level
    x0, x1, y0, y1 = cell_range
    conditions = ["cx BETWEEN %s AND %s", "cy BETWEEN %s AND %s"]
    params: list[Any] = [x0 << shift, ((x1 + 1) << shift) - 1, y0 << shift, ((y1 + 1) << shift) - 1]
    if statuses:
        conditions.append("status = ANY(%s)")
        params.append(list(statuses))
    if urgencies:
        conditions.append("urgency = ANY(%s)")
        params.append(list(urgencies))
    if district_id is not None:
        conditions.append("district_id = %s")
        params.append(district_id)
    where = " AND ".join(conditions)
    columns = f"cx >> {shift} AS cx, cy >> {shift} AS cy, status, urgency, is_overdue, is_key, n, sum_lon, sum_lat"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT cx, cy, status, urgency, is_overdue, is_key, sum(n)::int, sum(sum_lon), sum(sum_lat)
            FROM (SELECT {columns} FROM cases_opencasecell WHERE {where}
                  UNION ALL SELECT {columns} FROM cases_opencasecelldelta WHERE {where}) counted
            GROUP BY 1, 2, 3, 4, 5, 6
            HAVING sum(n) > 0
            """,
            params + params,
        )
        return cursor.fetchall()
