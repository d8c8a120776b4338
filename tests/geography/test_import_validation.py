"""Bad import files: every problem names the feature and the reason, and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from geography.models import District, Street
from tests.geography.factories import (
    DISTRICT_BOX,
    STREET_BOX,
    box,
    feature,
    run_import,
    snapshot_all,
)

pytestmark = pytest.mark.django_db

# Two triangles crossing at (120.36, 36.07): the classic self-intersecting polygon.
BOW_TIE = {
    "type": "Polygon",
    "coordinates": [[[120.30, 36.04], [120.42, 36.10], [120.42, 36.04], [120.30, 36.10], [120.30, 36.04]]],
}
GOOD = feature(box(DISTRICT_BOX), code="370202", name="市南区")


def import_fails(layer: str, path: Path, *args: str) -> str:
    """Run the import expecting failure; return the error message."""
    with pytest.raises(CommandError) as raised:
        run_import(layer, path, *args)
    return str(raised.value)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (feature(BOW_TIE, code="370203", name="市北区"), "invalid polygon: Self-intersection"),
        (feature(box((116.3, 39.9, 116.5, 40.0)), code="370203", name="北京"), "outside Qingdao"),
        (feature(box(DISTRICT_BOX), code="3702", name="市北区"), "code 3702 has 4 digits; a district code has 6"),
        (feature(box(DISTRICT_BOX), code="37020X", name="市北区"), "not all digits"),
        (feature(box(DISTRICT_BOX), code="", name="市北区"), "no code"),
        (feature(box(DISTRICT_BOX), code="370203", name=""), "no name"),
        (feature({"type": "Point", "coordinates": [120.35, 36.07]}, code="370203", name="市北区"), "a Point"),
        (feature(None, code="370203", name="市北区"), "no geometry"),
        (feature(box(DISTRICT_BOX), code="370202", name="again"), "duplicate code: feature #0 has it too"),
    ],
)
def test_a_bad_district_fails_naming_the_feature_and_reason_and_writes_nothing(
    write_geojson: Callable[..., Path], bad: dict, reason: str
) -> None:
    path = write_geojson("districts", [GOOD, bad])
    before = snapshot_all()

    message = import_fails("district", path)

    code = bad["properties"]["code"] or "-"
    assert f"feature #1 (code {code}): " in message
    assert reason in message
    assert "1 of 2 features are invalid; nothing was imported" in message
    assert snapshot_all() == before


def test_a_file_in_another_srs_fails_saying_which_and_writes_nothing(write_geojson, ogr2ogr) -> None:
    mercator = ogr2ogr(write_geojson("districts", [GOOD]), ".geojson", "-t_srs", "EPSG:3857")

    message = import_fails("district", mercator)

    assert "EPSG:3857 (WGS 84 / Pseudo-Mercator), not WGS 84" in message
    assert "--srs EPSG:3857" in message
    assert not District.objects.exists()


def test_projected_numbers_in_a_file_declaring_nothing_are_caught(write_geojson, ogr2ogr) -> None:
    mercator = ogr2ogr(write_geojson("districts", [GOOD]), ".shp", "-t_srs", "EPSG:3857")
    mercator.with_suffix(".prj").unlink()  # a Shapefile that lost its .prj

    message = import_fails("district", mercator)

    assert "feature #0 (code 370202): coordinates (13391" in message
    assert "not longitude/latitude" in message
    assert not District.objects.exists()


def test_a_missing_code_field_is_named_with_the_fields_the_file_has(write_geojson) -> None:
    path = write_geojson("datav", [feature(box(DISTRICT_BOX), adcode=370202, name="市南区")])

    message = import_fails("district", path)

    assert "no field 'code' (fields: adcode, name)" in message
    assert "--code-field" in message
    assert not District.objects.exists()


def test_a_street_of_an_unknown_district_is_rejected(write_geojson) -> None:
    run_import("district", write_geojson("districts", [GOOD]))
    before = snapshot_all()
    path = write_geojson(
        "streets",
        [
            feature(box(STREET_BOX), code="370202001", name="八大关街道"),
            feature(box(STREET_BOX), code="370299001", name="无名街道"),
        ],
    )

    message = import_fails("street", path)

    assert "feature #1 (code 370299001): its district 370299 does not exist" in message
    assert snapshot_all() == before


def test_a_street_reaching_outside_its_district_is_rejected(write_geojson) -> None:
    run_import("district", write_geojson("districts", [GOOD]))
    before = snapshot_all()
    # Half of it lies east of the district's edge at 120.42.
    path = write_geojson("streets", [feature(box((120.40, 36.04, 120.44, 36.10)), code="370202002", name="越界街道")])

    message = import_fails("street", path)

    assert "feature #0 (code 370202002): not within its district 370202: 50.0% of its area lies outside" in message
    assert snapshot_all() == before


def test_a_street_a_few_metres_over_its_district_edge_is_accepted(write_geojson) -> None:
    run_import("district", write_geojson("districts", [GOOD]))
    # 0.00005° (about 5 m) past the edge: survey boundaries rarely meet exactly.
    path = write_geojson("streets", [feature(box((120.30, 36.04, 120.42005, 36.10)), code="370202002", name="沿边")])

    run_import("street", path)

    assert Street.objects.filter(code="370202002").exists()


def test_skip_invalid_imports_the_rest_and_writes_the_rejects_beside_the_input(write_geojson) -> None:
    bow_tie = feature(BOW_TIE, code="370203", name="市北区")
    bad_code = feature(box(DISTRICT_BOX), code="37", name="短码")
    path = write_geojson("districts", [bad_code, GOOD, bow_tie])

    out = run_import("district", path, "--skip-invalid")

    assert "3 read, 1 created, 0 updated, 0 unchanged, 2 rejected" in out
    rejects_path = path.with_name("districts.rejects.geojson")
    assert f"wrote 2 rejected features to {rejects_path}" in out
    assert list(District.objects.values_list("code", flat=True)) == ["370202"]
    rejects = json.loads(rejects_path.read_text(encoding="utf-8"))
    assert rejects["type"] == "FeatureCollection"
    first, second = rejects["features"]
    assert first["geometry"] == bad_code["geometry"]
    assert first["properties"] == {**bad_code["properties"], "error": "code 37 has 2 digits; a district code has 6"}
    assert second["geometry"] == bow_tie["geometry"]
    assert second["properties"]["error"].startswith("invalid polygon: Self-intersection")


def test_skip_invalid_writes_rejects_where_asked(write_geojson, tmp_path: Path) -> None:
    path = write_geojson("districts", [GOOD, feature(BOW_TIE, code="370203", name="市北区")])
    target = tmp_path / "elsewhere" / "bad.geojson"
    target.parent.mkdir()

    run_import("district", path, "--skip-invalid", "--rejects", str(target))

    assert [f["properties"]["code"] for f in json.loads(target.read_text())["features"]] == ["370203"]
    assert not path.with_name("districts.rejects.geojson").exists()


def test_a_rejected_file_in_another_srs_keeps_its_own_coordinates_and_says_which(write_geojson, ogr2ogr) -> None:
    mercator = ogr2ogr(
        write_geojson("districts", [GOOD, feature(BOW_TIE, code="370203", name="市北区")]),
        ".geojson",
        "-t_srs",
        "EPSG:3857",
    )

    run_import("district", mercator, "--srs", "EPSG:3857", "--skip-invalid")

    rejects = json.loads(mercator.with_name("districts.rejects.geojson").read_text())
    assert rejects["crs"]["properties"]["name"] == "EPSG:3857"
    assert rejects["features"][0]["geometry"]["coordinates"][0][0][0] > 1e7  # metres, as in the file
    assert District.objects.filter(code="370202").exists()


def test_a_grid_cell_of_an_unknown_community_is_rejected(city, write_geojson) -> None:
    before = snapshot_all()
    path = write_geojson("grid", [feature(box((120.301, 36.040, 120.302, 36.041)), code="37020200100901")])

    message = import_fails("grid", path)

    assert "feature #0 (code 37020200100901): its community 370202001009 does not exist" in message
    assert snapshot_all() == before


def test_an_srs_gdal_does_not_know_is_refused(write_geojson) -> None:
    message = import_fails("district", write_geojson("districts", [GOOD]), "--srs", "EPSG:999999")

    assert "--srs EPSG:999999 is not a coordinate system GDAL knows" in message
    assert not District.objects.exists()


def test_an_srs_option_contradicting_the_file_is_refused(write_geojson, ogr2ogr) -> None:
    mercator = ogr2ogr(write_geojson("districts", [GOOD]), ".geojson", "-t_srs", "EPSG:3857")

    message = import_fails("district", mercator, "--srs", "EPSG:4490")

    assert "the file declares EPSG:3857 (WGS 84 / Pseudo-Mercator) but --srs says EPSG:4490" in message
    assert not District.objects.exists()


def test_an_operator_reads_the_rejection_in_chinese_by_default(tmp_path):
    from django.core.management import CommandError, call_command
    from django.utils import translation

    missing_file = tmp_path / "不存在.geojson"
    with translation.override("zh-hans"), pytest.raises(CommandError) as error:
        call_command("import_geo", "--layer", "district", str(missing_file))

    assert str(error.value) == f"{missing_file} 不存在"
