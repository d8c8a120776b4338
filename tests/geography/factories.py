"""Factories for geography tests: a small nested city of boxes, its classes and units, and import files."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import factory
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management import call_command
from django.db import models

from geography.models import Community, Component, District, GridCell, Street
from organisations.models import OrgUnit, UnitType
from organisations.services import unit_create
from tests import factories as shared
from tests.factories import MajorClassFactory, MinorClassFactory  # noqa: F401 (imported from here by the tests)

# The test city: district 370202 holds street 370202001, which holds community 370202001001, which
# holds grid cell 37020200100101 in its south-west corner.
DISTRICT_BOX = (120.30, 36.04, 120.42, 36.10)
STREET_BOX = (120.30, 36.04, 120.36, 36.10)
COMMUNITY_BOX = (120.30, 36.04, 120.33, 36.07)
CELL_BOX = (120.300, 36.040, 120.301, 36.041)


def multipolygon(bbox: tuple[float, float, float, float]) -> MultiPolygon:
    return MultiPolygon(Polygon.from_bbox(bbox), srid=4326)


# The shared factories (tests/factories.py) with this city's fixed codes, names and boxes: get_or_create by code,
# so a test asking for the district twice gets the same one.


class DistrictFactory(shared.DistrictFactory):
    class Meta:
        django_get_or_create = ("code",)

    code = "370202"
    name = "市南区"
    geom = factory.LazyFunction(lambda: multipolygon(DISTRICT_BOX))


class StreetFactory(shared.StreetFactory):
    class Meta:
        django_get_or_create = ("code",)

    district = factory.SubFactory(DistrictFactory)
    code = factory.LazyAttribute(lambda o: f"{o.district.code}001")
    name = "八大关街道"
    geom = factory.LazyFunction(lambda: multipolygon(STREET_BOX))


class CommunityFactory(shared.CommunityFactory):
    class Meta:
        django_get_or_create = ("code",)

    street = factory.SubFactory(StreetFactory)
    code = factory.LazyAttribute(lambda o: f"{o.street.code}001")
    name = "太平角社区"
    geom = factory.LazyFunction(lambda: multipolygon(COMMUNITY_BOX))


class GridCellFactory(shared.GridCellFactory):
    class Meta:
        django_get_or_create = ("code",)

    community = factory.SubFactory(CommunityFactory)
    code = factory.LazyAttribute(lambda o: f"{o.community.code}01")
    geom = factory.LazyFunction(lambda: multipolygon(CELL_BOX))


def org_unit(code: str = "QDWATER", name: str = "青岛水务集团") -> OrgUnit:
    return unit_create(name=name, code=code, unit_type=UnitType.COMPANY)


# -- import files, built from Python dicts --------------------------------------------------------

Feature = dict[str, Any]


def box(bbox: tuple[float, float, float, float]) -> dict[str, Any]:
    """A GeoJSON Polygon for (xmin, ymin, xmax, ymax)."""
    xmin, ymin, xmax, ymax = bbox
    ring = [[xmin, ymin], [xmax, ymin], [xmax, ymax], [xmin, ymax], [xmin, ymin]]
    return {"type": "Polygon", "coordinates": [ring]}


def point(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [x, y]}


def feature(geometry: dict[str, Any] | None, **properties: Any) -> Feature:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def run_import(layer: str, path: Path, *args: str) -> str:
    """Run `import_geo` in-process and return what it printed."""
    out = io.StringIO()
    call_command("import_geo", "--layer", layer, str(path), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def snapshot(model: type[models.Model]) -> list[tuple[Any, ...]]:
    """Every row's every column (geometries as WKB), to show that a failed or repeated import changed nothing."""
    names = [f.attname for f in model._meta.concrete_fields]
    rows = []
    for values in model.objects.order_by("pk").values_list(*names):
        rows.append(tuple(bytes(v.ewkb) if hasattr(v, "ewkb") else v for v in values))
    return rows


def snapshot_all() -> dict[str, list[tuple[Any, ...]]]:
    return {m.__name__: snapshot(m) for m in (District, Street, Community, GridCell, Component)}


# A point inside the test city's grid cell, and one in the community but outside the grid.
IN_CELL = ((CELL_BOX[0] + CELL_BOX[2]) / 2, (CELL_BOX[1] + CELL_BOX[3]) / 2)
IN_COMMUNITY_ONLY = (120.32, 36.06)
