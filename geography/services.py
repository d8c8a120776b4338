"""Writes on the city's geography: importing district, street, community, grid and component layers.

Valid features are streamed into a temporary table with COPY, components are located there in one
set-based UPDATE, and one INSERT ... ON CONFLICT upserts by code, writing only rows that changed.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.db import connection, transaction
from tqdm import tqdm

from geography.coords import WGS84
from geography.importing import (
    COMMUNITY,
    COMPONENT,
    DISTRICT,
    GRID,
    STREET,
    FeatureReader,
    FieldNames,
    ImportRejected,
    Reject,
    Row,
    describe_srs,
)

BATCH_SIZE = 5000


@dataclass
class ImportReport:
    layer: str
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejects: list[Reject] = field(default_factory=list)
    rejects_path: Path | None = None


def default_rejects_path(path: Path) -> Path:
    """`districts.shp` -> `districts.rejects.geojson`, beside the input."""
    return path.with_name(f"{path.stem}.rejects.geojson")


@transaction.atomic
def geography_layer_import(
    *,
    layer: str,
    path: Path,
    srs: str = WGS84,
    skip_invalid: bool = False,
    rejects_path: Path | None = None,
    fields: FieldNames | None = None,
    source_layer: str | None = None,
    progress_file: TextIO | None = None,
) -> ImportReport:
    """Upsert a layer's features by code, all or nothing unless `skip_invalid`.

    Raises SourceError when the file cannot be imported at all, and ImportRejected (after writing
    nothing) when a feature is invalid and `skip_invalid` is not set.
    """
    reader = FeatureReader(path, layer=layer, srs=srs, fields=fields, source_layer=source_layer)
    report = ImportReport(layer=layer)
    staging = _Staging(layer)
    features: Iterable[Row | Reject] = reader
    if progress_file is not None:
        features = tqdm(reader, total=len(reader), file=progress_file, unit=" features", desc=layer)
    for item in features:
        report.read += 1
        if isinstance(item, Reject):
            report.rejects.append(item)
        else:
            staging.add(item)
    staging.flush()
    if report.rejects and not skip_invalid:
        raise ImportRejected(report.rejects, report.read)
    if layer == COMPONENT:
        staging.locate_components()
    report.created, report.updated = staging.upsert()
    report.unchanged = staging.count - report.created - report.updated
    if layer == COMPONENT and (report.created or report.updated):
        # The map's cluster counts (geography.tiles) follow the new components once they are committed.
        from geography.tasks import rebuild_component_clusters  # the tasks import the tiles, which import models

        transaction.on_commit(rebuild_component_clusters.delay)
    if report.rejects:
        report.rejects_path = rejects_path or default_rejects_path(path)
        _write_rejects(report.rejects_path, report.rejects, reader)
    return report


def _write_rejects(path: Path, rejects: list[Reject], reader: FeatureReader) -> None:
    collection: dict[str, object] = {"type": "FeatureCollection"}
    declared = reader.declared_srs
    if declared is not None and reader.transform is not None:
        # The rejected features keep the file's own coordinates; say which system they are in.
        collection["crs"] = {"type": "name", "properties": {"name": describe_srs(declared).split(" ")[0]}}
    features = []
    for reject in rejects:
        feature = dict(reject.feature)
        feature["properties"] = {**feature["properties"], "error": str(reject.reason)}
        features.append(feature)
    collection["features"] = features
    path.write_text(json.dumps(collection, ensure_ascii=False, default=str), encoding="utf-8")


def _copy_value(value: object) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return r"\N"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


# Staging columns per layer (beyond idx and code) and the Row attribute each comes from.
_POLYGON_COLUMNS = {"name": "text", "geom": "geometry(Geometry, 4326)"}  # Polygon or MultiPolygon
_COMPONENT_COLUMNS = {
    "name": "text",
    "geom": "geometry(Point, 4326)",
    "minor_class_id": "integer",
    "address": "text",
    "status": "text",
    "owner_unit_id": "integer",
    "surveyed_on": "date",
    "district_id": "integer",
    "street_id": "integer",
    "community_id": "integer",
    "grid_cell_id": "integer",
}
_ROW_ATTRS = {"geom": "geom_ewkb"}

# How each layer's staged rows become table rows: the target table, its columns, the SELECT that
# fills them (parents joined by code prefix), and the columns compared to decide "unchanged".
_UPSERTS: dict[str, tuple[str, list[str], str, list[str]]] = {
    DISTRICT: (
        "geography_district",
        ["code", "name", "geom", "center"],
        "SELECT s.code, s.name, ST_Multi(s.geom), ST_PointOnSurface(s.geom) FROM geo_import s",
        ["name", "geom"],
    ),
    STREET: (
        "geography_street",
        ["code", "name", "geom", "district_id"],
        "SELECT s.code, s.name, ST_Multi(s.geom), p.id"
        " FROM geo_import s JOIN geography_district p ON p.code = left(s.code, 6)",
        ["name", "geom", "district_id"],
    ),
    COMMUNITY: (
        "geography_community",
        ["code", "name", "geom", "street_id", "district_id"],
        "SELECT s.code, s.name, ST_Multi(s.geom), p.id, p.district_id"
        " FROM geo_import s JOIN geography_street p ON p.code = left(s.code, 9)",
        ["name", "geom", "street_id", "district_id"],
    ),
    GRID: (
        "geography_gridcell",
        ["code", "geom", "area_m2", "community_id", "street_id", "district_id"],
        "SELECT s.code, ST_Multi(s.geom), ST_Area(s.geom::geography), p.id, p.street_id, p.district_id"
        " FROM geo_import s JOIN geography_community p ON p.code = left(s.code, 12)",
        ["geom", "community_id", "street_id", "district_id"],
    ),
    COMPONENT: (
        "geography_component",
        [
            "code",
            "minor_class_id",
            "name",
            "location",
            "district_id",
            "street_id",
            "community_id",
            "grid_cell_id",
            "owner_unit_id",
            "status",
            "address",
            "surveyed_on",
            "updated_at",
        ],
        "SELECT s.code, s.minor_class_id, s.name, s.geom, s.district_id, s.street_id, s.community_id,"
        " s.grid_cell_id, s.owner_unit_id, s.status, s.address, s.surveyed_on, statement_timestamp() FROM geo_import s",
        [
            "minor_class_id",
            "name",
            "location",
            "district_id",
            "street_id",
            "community_id",
            "grid_cell_id",
            "owner_unit_id",
            "status",
            "address",
            "surveyed_on",
        ],
    ),
}

# Each staged point takes the grid cell that covers it (which carries its community, street and
# district); outside the grid, the community, then the street; the district found by the reader's
# check otherwise. The `IS NULL` guards make the later lookups run only where the earlier missed.
_LOCATE_SQL = """
UPDATE geo_import s
SET grid_cell_id = found.grid_cell_id, community_id = found.community_id,
    street_id = found.street_id, district_id = COALESCE(found.district_id, s.district_id)
FROM (
    SELECT s2.idx,
           g.id AS grid_cell_id,
           COALESCE(g.community_id, m.id) AS community_id,
           COALESCE(g.street_id, m.street_id, t.id) AS street_id,
           COALESCE(g.district_id, m.district_id, t.district_id, d.id) AS district_id
    FROM geo_import s2
    LEFT JOIN LATERAL (
        SELECT c.id, c.community_id, c.street_id, c.district_id FROM geography_gridcell c
        WHERE c.geom && s2.geom AND ST_Covers(c.geom, s2.geom) ORDER BY c.id LIMIT 1
    ) g ON true
    LEFT JOIN LATERAL (
        SELECT c.id, c.street_id, c.district_id FROM geography_community c
        WHERE g.id IS NULL AND c.geom && s2.geom AND ST_Covers(c.geom, s2.geom) ORDER BY c.id LIMIT 1
    ) m ON true
    LEFT JOIN LATERAL (
        SELECT c.id, c.district_id FROM geography_street c
        WHERE g.id IS NULL AND m.id IS NULL AND c.geom && s2.geom AND ST_Covers(c.geom, s2.geom)
        ORDER BY c.id LIMIT 1
    ) t ON true
    LEFT JOIN LATERAL (
        SELECT c.id FROM geography_district c
        WHERE g.id IS NULL AND m.id IS NULL AND t.id IS NULL AND c.geom && s2.geom AND ST_Covers(c.geom, s2.geom)
        ORDER BY c.id LIMIT 1
    ) d ON true
) found
WHERE found.idx = s.idx
"""


class _Staging:
    """A temporary table (dropped at commit) that valid rows are COPYed into in batches."""

    def __init__(self, layer: str) -> None:
        self.layer = layer
        self.columns = _COMPONENT_COLUMNS if layer == COMPONENT else _POLYGON_COLUMNS
        self.count = 0
        self._buffer: list[str] = []
        self._cursor = connection.cursor()
        definition = ", ".join(f"{name} {kind}" for name, kind in self.columns.items())
        self._cursor.execute("DROP TABLE IF EXISTS pg_temp.geo_import")  # an earlier import in this transaction
        self._cursor.execute(
            f"CREATE TEMPORARY TABLE geo_import (idx integer PRIMARY KEY, code text NOT NULL, {definition})"
            " ON COMMIT DROP"
        )
        # Only the columns the reader fills; the located ones stay NULL until locate_components().
        self._copied = [c for c in self.columns if c not in ("street_id", "community_id", "grid_cell_id")]

    def add(self, row: Row) -> None:
        values = [row.index, row.code] + [getattr(row, _ROW_ATTRS.get(c, c)) for c in self._copied]
        self._buffer.append("\t".join(_copy_value(v) for v in values))
        self.count += 1
        if len(self._buffer) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        data = io.StringIO("\n".join(self._buffer) + "\n")
        columns = ", ".join(["idx", "code", *self._copied])
        self._cursor.cursor.copy_expert(f"COPY geo_import ({columns}) FROM STDIN", data)  # psycopg2's own cursor
        self._buffer.clear()

    def locate_components(self) -> None:
        self._cursor.execute("ANALYZE geo_import")
        self._cursor.execute(_LOCATE_SQL)

    def upsert(self) -> tuple[int, int]:
        """Insert new codes and update changed rows; (created, updated). Unchanged rows are not written."""
        table, columns, select, compared = _UPSERTS[self.layer]
        assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "code")
        current = ", ".join(f"{table}.{c}" for c in compared)
        incoming = ", ".join(f"EXCLUDED.{c}" for c in compared)
        # xmax is 0 on a freshly inserted row version and set on one an update replaced.
        self._cursor.execute(
            f"WITH written AS ("
            f" INSERT INTO {table} ({', '.join(columns)}) {select}"
            f" ON CONFLICT (code) DO UPDATE SET {assignments}"
            f" WHERE ({current}) IS DISTINCT FROM ({incoming})"
            f" RETURNING (xmax = 0) AS created"
            f") SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM written"
        )
        created, updated = self._cursor.fetchone()
        return created, updated
