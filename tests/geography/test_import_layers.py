"""Importing districts, streets, communities and grid cells: GeoJSON and Shapefile, re-import, SRS options."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.gis.geos import MultiPolygon

from geography.coords import wgs84_to_gcj02
from geography.models import Community, District, GridCell, Street
from tests.geography.factories import (
    CELL_BOX,
    COMMUNITY_BOX,
    DISTRICT_BOX,
    STREET_BOX,
    box,
    feature,
    run_import,
    snapshot,
    snapshot_all,
)

pytestmark = pytest.mark.django_db

FORMATS = ["geojson", "shapefile"]


@pytest.fixture
def as_format(ogr2ogr: Callable[..., Path]) -> Callable[[Path, str], Path]:
    def convert(path: Path, fmt: str) -> Path:
        return path if fmt == "geojson" else ogr2ogr(path)

    return convert


def district_features() -> list[dict]:
    return [
        feature(box(DISTRICT_BOX), code="370202", name="市南区"),
        feature(box((120.42, 36.04, 120.50, 36.12)), code="370203", name="市北区"),
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_it_imports_districts_as_multipolygons_in_wgs84(write_geojson, as_format, fmt: str) -> None:
    path = as_format(write_geojson("districts", district_features()), fmt)

    out = run_import("district", path)

    assert "2 read, 2 created, 0 updated, 0 unchanged, 0 rejected" in out
    shinan = District.objects.get(code="370202")
    assert shinan.name == "市南区"
    assert isinstance(shinan.geom, MultiPolygon)
    assert shinan.geom.srid == 4326
    assert shinan.geom.extent == pytest.approx(DISTRICT_BOX)
    assert shinan.center is not None and shinan.geom.covers(shinan.center)


@pytest.mark.parametrize("fmt", FORMATS)
def test_it_imports_each_lower_layer_with_its_parents_from_the_code_prefix(write_geojson, as_format, fmt: str) -> None:
    run_import("district", as_format(write_geojson("districts", district_features()), fmt))
    streets = [feature(box(STREET_BOX), code="370202001", name="八大关街道")]
    communities = [feature(box(COMMUNITY_BOX), code="370202001001", name="太平角社区")]
    cells = [feature(box(CELL_BOX), code="37020200100101")]

    assert "1 created" in run_import("street", as_format(write_geojson("streets", streets), fmt))
    assert "1 created" in run_import("community", as_format(write_geojson("communities", communities), fmt))
    assert "1 created" in run_import("grid", as_format(write_geojson("grid", cells), fmt))

    district = District.objects.get(code="370202")
    street = Street.objects.get(code="370202001")
    community = Community.objects.get(code="370202001001")
    cell = GridCell.objects.get(code="37020200100101")
    assert (street.district, street.name) == (district, "八大关街道")
    assert (community.street, community.district, community.name) == (street, district, "太平角社区")
    assert (cell.community, cell.street, cell.district) == (community, street, district)
    # 0.001° x 0.001° at 36° N is about 90 m x 111 m.
    assert cell.area_m2 == pytest.approx(10_000, rel=0.01)


@pytest.mark.parametrize("fmt", FORMATS)
def test_reimporting_the_same_file_reports_all_unchanged_and_changes_no_row(write_geojson, as_format, fmt: str) -> None:
    path = as_format(write_geojson("districts", district_features()), fmt)
    run_import("district", path)
    before = snapshot_all()

    out = run_import("district", path)

    assert "2 read, 0 created, 0 updated, 2 unchanged, 0 rejected" in out
    assert snapshot_all() == before


def test_it_updates_only_the_feature_that_changed(write_geojson) -> None:
    run_import("district", write_geojson("v1", district_features()))
    untouched = snapshot(District)[1]
    changed = district_features()
    changed[0]["properties"]["name"] = "市南区（新）"

    out = run_import("district", write_geojson("v2", changed))

    assert "0 created, 1 updated, 1 unchanged" in out
    assert District.objects.get(code="370202").name == "市南区（新）"
    assert snapshot(District)[1] == untouched


def test_it_reads_a_numeric_code_from_the_field_named_by_option(write_geojson) -> None:
    # The DataV district files carry the code as a number in `adcode`.
    path = write_geojson("datav", [feature(box(DISTRICT_BOX), adcode=370202, name="市南区")])

    run_import("district", path, "--code-field", "adcode")

    assert District.objects.filter(code="370202").exists()


def test_srs_gcj02_moves_every_vertex_to_wgs84(write_geojson) -> None:
    corners = [(120.30, 36.04), (120.42, 36.04), (120.42, 36.10), (120.30, 36.10), (120.30, 36.04)]
    gcj = {"type": "Polygon", "coordinates": [[list(wgs84_to_gcj02(x, y)) for x, y in corners]]}
    path = write_geojson("gcj", [feature(gcj, code="370202", name="市南区")])

    run_import("district", path, "--srs", "gcj02")

    stored = District.objects.get(code="370202").geom[0].exterior_ring.coords
    for (x, y), (wx, wy) in zip(stored, corners, strict=True):
        assert x == pytest.approx(wx, abs=1e-7)
        assert y == pytest.approx(wy, abs=1e-7)
    # The file's own numbers are a few hundred metres away from what was stored.
    gx, gy = gcj["coordinates"][0][0]
    assert abs(gx - stored[0][0]) > 1e-3


def test_an_explicit_epsg_srs_is_transformed_to_wgs84(write_geojson, ogr2ogr) -> None:
    mercator = ogr2ogr(write_geojson("districts", district_features()), ".geojson", "-t_srs", "EPSG:3857")

    run_import("district", mercator, "--srs", "EPSG:3857")

    assert District.objects.get(code="370202").geom.extent == pytest.approx(DISTRICT_BOX, abs=1e-7)
