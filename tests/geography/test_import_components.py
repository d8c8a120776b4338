"""Importing city components: classes and owners from the file, located set-based, validated, idempotent."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from geography.coords import wgs84_to_gcj02
from geography.models import Component, ComponentStatus, GridCell
from geography.services import geography_layer_import
from tests.geography.factories import (
    IN_CELL,
    IN_COMMUNITY_ONLY,
    feature,
    org_unit,
    point,
    run_import,
    snapshot_all,
)

pytestmark = pytest.mark.django_db

CODE = "3702020101000001"  # district 370202, class 0101 (上水井盖), serial 000001


def component(code: str = CODE, xy: tuple[float, float] = IN_CELL, **properties: object) -> dict:
    return feature(point(*xy), code=code, **properties)


@pytest.mark.parametrize("fmt", ["geojson", "shapefile"])
def test_it_imports_components_with_class_owner_and_location(
    city: GridCell, write_geojson: Callable[..., Path], ogr2ogr: Callable[..., Path], fmt: str
) -> None:
    owner = org_unit()
    path = write_geojson(
        "components",
        [
            component(
                name="上水井盖",
                address="太平角一路",
                status="破损",
                owner_unit="QDWATER",
                surveyed_on="2024-05-01",
            ),
            component("3702020101000002", IN_COMMUNITY_ONLY, status="lost"),
        ],
    )
    if fmt == "shapefile":
        path = ogr2ogr(path)  # surveyed_on becomes the DBF column "surveyed_o"

    out = run_import("component", path)

    assert "2 read, 2 created, 0 updated, 0 unchanged, 0 rejected" in out
    first = Component.objects.get(code=CODE)
    assert first.minor_class.full_code == "0101"
    assert (first.name, first.address, first.status) == ("上水井盖", "太平角一路", ComponentStatus.DAMAGED)
    assert first.owner_unit == owner
    assert first.surveyed_on == dt.date(2024, 5, 1)
    assert first.location.coords == pytest.approx(IN_CELL)
    assert (first.grid_cell, first.community, first.street, first.district) == (
        city,
        city.community,
        city.street,
        city.district,
    )
    # Outside the grid, the point still gets its community, street and district.
    second = Component.objects.get(code="3702020101000002")
    assert second.grid_cell is None
    assert (second.community, second.street, second.district) == (city.community, city.street, city.district)
    assert second.status == ComponentStatus.LOST


def test_reimporting_components_writes_nothing(city: GridCell, write_geojson: Callable[..., Path]) -> None:
    path = write_geojson("components", [component(name="井盖"), component("3702020101000002", IN_COMMUNITY_ONLY)])
    run_import("component", path)
    before = snapshot_all()  # includes updated_at, which any write would move

    out = run_import("component", path)

    assert "2 read, 0 created, 0 updated, 2 unchanged, 0 rejected" in out
    assert snapshot_all() == before


def test_a_moved_component_is_updated_and_relocated(city: GridCell, write_geojson: Callable[..., Path]) -> None:
    run_import("component", write_geojson("v1", [component()]))
    updated_at = Component.objects.get(code=CODE).updated_at

    out = run_import("component", write_geojson("v2", [component(xy=IN_COMMUNITY_ONLY)]))

    assert "0 created, 1 updated, 0 unchanged" in out
    moved = Component.objects.get(code=CODE)
    assert moved.grid_cell is None and moved.community == city.community
    assert moved.updated_at > updated_at


def test_srs_gcj02_converts_component_points(city: GridCell, write_geojson: Callable[..., Path]) -> None:
    path = write_geojson("gcj", [component(xy=wgs84_to_gcj02(*IN_CELL))])

    run_import("component", path, "--srs", "gcj02")

    stored = Component.objects.get(code=CODE)
    assert stored.location.coords == pytest.approx(IN_CELL, abs=1e-7)
    assert stored.grid_cell == city


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (component("3702020101000002", (120.50, 36.30)), "point (120.500000, 36.300000) is outside every district"),
        (component("3702990101000002"), "district 370299 does not exist"),
        (component("3702029999000002"), "no component class 9999 (code digits 7-10)"),
        (component("370202010100002"), "has 15 digits; a component code has 16"),
        (component("3702020101000002", owner_unit="NOBODY"), "unknown owner unit NOBODY"),
        (component("3702020101000002", status="melted"), "unknown status 'melted'"),
        (component("3702020101000002", surveyed_on="May 2024"), "surveyed_on 'May 2024' is not a date"),
        (component(CODE), "duplicate code: feature #0 has it too"),
        (
            feature({"type": "LineString", "coordinates": [IN_CELL, IN_COMMUNITY_ONLY]}, code="3702020101000002"),
            "a LineString",
        ),
    ],
)
def test_a_bad_component_fails_naming_it_and_writes_nothing(
    city: GridCell, write_geojson: Callable[..., Path], bad: dict, reason: str
) -> None:
    org_unit()
    path = write_geojson("components", [component(), bad])
    before = snapshot_all()

    with pytest.raises(CommandError) as raised:
        run_import("component", path)

    assert f"feature #1 (code {bad['properties']['code']}): " in str(raised.value)
    assert reason in str(raised.value)
    assert snapshot_all() == before


def test_skip_invalid_imports_the_good_components(city: GridCell, write_geojson: Callable[..., Path]) -> None:
    path = write_geojson("components", [component("3702020101000002", (120.50, 36.30)), component()])

    out = run_import("component", path, "--skip-invalid")

    assert "2 read, 1 created, 0 updated, 0 unchanged, 1 rejected" in out
    assert list(Component.objects.values_list("code", flat=True)) == [CODE]
    assert path.with_name("components.rejects.geojson").exists()


def test_components_are_located_with_a_fixed_number_of_queries(
    city: GridCell, write_geojson: Callable[..., Path]
) -> None:
    def queries_for(n: int, name: str) -> int:
        features = [component(f"3702020101{i:06d}", IN_CELL) for i in range(1, n + 1)]
        with CaptureQueriesContext(connection) as queries:
            run_import("component", write_geojson(name, features))
        return len(queries)

    assert queries_for(5, "few") == queries_for(300, "many")
    assert Component.objects.filter(grid_cell=city).count() == 300


def test_the_service_draws_a_progress_bar_when_given_a_stream(
    city: GridCell, write_geojson: Callable[..., Path]
) -> None:
    stream = io.StringIO()

    geography_layer_import(layer="component", path=write_geojson("c", [component()]), progress_file=stream)

    assert "1/1" in stream.getvalue()


def test_an_import_recounts_the_map_clusters_once_committed(
    city: GridCell, write_geojson: Callable[..., Path], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    from geography.models import ComponentClusterTotal
    from qingdao_ops.celery import app as celery_app

    path = write_geojson("components", [component(), component("3702020101000002", IN_COMMUNITY_ONLY)])
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True  # the worker's part, run here
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            geography_layer_import(layer="component", path=path)
    finally:
        celery_app.conf.task_always_eager = eager

    assert len(callbacks) == 1  # one rebuild, after commit
    deepest = ComponentClusterTotal.objects.order_by("-level").values_list("level", flat=True).first()
    assert sum(ComponentClusterTotal.objects.filter(level=deepest).values_list("count", flat=True)) == 2
