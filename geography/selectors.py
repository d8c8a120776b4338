"""Reads on the city's geography. locate() answers "where is this point" in one query."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.gis.db.models import MultiPolygonField
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.contrib.gis.geos import Point
from django.db import connection
from django.db.models import Func, Value

from geography.models import Community, District, Street

# One statement: the grid cell first (it carries its community, street and district); where the
# point lies outside the grid (the grid covers the built-up core only), the community instead.
# The && operators let PostgreSQL use the GiST indexes before the exact ST_Covers test.
# LOCATE_FOUND reads the point from a relation `p` (column g): other statements embed it (cases intake).
LOCATE_FOUND = """
SELECT * FROM (
    SELECT 1 AS rank, c.id, c.code, c.community_id, c.street_id, c.district_id
    FROM geography_gridcell c, p
    WHERE c.geom && p.g AND ST_Covers(c.geom, p.g)
    UNION ALL
    SELECT 2 AS rank, NULL, NULL, m.id, m.street_id, m.district_id
    FROM geography_community m, p
    WHERE m.geom && p.g AND ST_Covers(m.geom, p.g)
    UNION ALL
    SELECT 3 AS rank, NULL, NULL, NULL, s.id, s.district_id
    FROM geography_street s, p
    WHERE s.geom && p.g AND ST_Covers(s.geom, p.g)
    UNION ALL
    SELECT 4 AS rank, NULL, NULL, NULL, NULL, d.id
    FROM geography_district d, p
    WHERE d.geom && p.g AND ST_Covers(d.geom, p.g)
) found
ORDER BY rank, id
LIMIT 1
"""
_LOCATE_SQL = f"WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4326) AS g) {LOCATE_FOUND}"


@dataclass(frozen=True)
class Location:
    """Where a point lies; ids are None where the point is outside that layer."""

    grid_cell_id: int | None
    grid_cell_code: str | None
    community_id: int | None
    street_id: int | None
    district_id: int | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Location:
        """From LOCATE_FOUND's columns after its rank: cell id and code, community, street, district."""
        cell_id, cell_code, community_id, street_id, district_id = row
        return cls(cell_id, cell_code, community_id, street_id, district_id)

    @property
    def in_city(self) -> bool:
        return self.district_id is not None


NOWHERE = Location(None, None, None, None, None)


def locate(point: Point) -> Location:
    """Grid cell, community, street and district of a WGS 84 point, in one query."""
    if point.srid not in (None, 4326):
        point = point.transform(4326, clone=True)
    with connection.cursor() as cursor:
        cursor.execute(_LOCATE_SQL, [point.x, point.y])
        row = cursor.fetchone()
    if row is None:
        return NOWHERE
    return Location.from_row(row[1:])


def describe(location: Location) -> dict[str, dict[str, object] | None]:
    """Codes and names of a located point's divisions, in one query (the most specific layer's row)."""
    empty: dict[str, dict[str, object] | None] = {"community": None, "street": None, "district": None}
    if location.community_id is not None:
        row = (
            Community.objects.filter(pk=location.community_id)
            .values("code", "name", "street__code", "street__name", "district__code", "district__name")
            .first()
        )
        ids = {"community": location.community_id, "street": location.street_id, "district": location.district_id}
    elif location.street_id is not None:
        streets = Street.objects.filter(pk=location.street_id)
        row = streets.values("code", "name", "district__code", "district__name").first()
        ids = {"street": location.street_id, "district": location.district_id}
    elif location.district_id is not None:
        row = District.objects.filter(pk=location.district_id).values("code", "name").first()
        ids = {"district": location.district_id}
    else:
        return empty
    if row is None:
        return empty
    described = dict(empty)
    top = next(iter(ids))  # the most specific layer is the row itself; the others are joined
    for layer, pk in ids.items():
        prefix = "" if layer == top else f"{layer}__"
        described[layer] = {"id": pk, "code": row[f"{prefix}code"], "name": row[f"{prefix}name"]}
    return described


# --- outlines for maps

OUTLINE_TOLERANCE = 0.0005  # degrees (about 50 m): district outlines drawn at city scale


def simplified(field: str, tolerance: float = OUTLINE_TOLERANCE) -> Any:
    """`field` simplified for drawing at city scale (topology kept, so neighbours still meet)."""
    return Func(
        field, Value(tolerance), function="ST_SimplifyPreserveTopology", output_field=MultiPolygonField(srid=4326)
    )


def district_outlines() -> dict[str, Any]:
    """Every district's simplified outline as a GeoJSON FeatureCollection (id, name): boundaries are public
    background, drawn on every map, whatever the viewer may see inside them."""
    rows = District.objects.order_by("code").annotate(outline=AsGeoJSON(simplified("geom"), precision=5))
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": d.pk, "properties": {"name": d.name}, "geometry": json.loads(d.outline)}
            for d in rows.only("id", "name")
        ],
    }
