"""Fixtures for geography import tests: files built from Python dicts, and the command run in-process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from geography.models import GridCell
from tests.geography.factories import Feature, GridCellFactory, MinorClassFactory


@pytest.fixture(autouse=True)
def english_messages() -> Any:
    """Commands speak the site's language (Chinese by default); these tests read their English."""
    with translation.override("en"):
        yield


@pytest.fixture
def write_geojson(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, features: list[Feature], crs: str | None = None) -> Path:
        collection: dict[str, Any] = {"type": "FeatureCollection", "features": features}
        if crs:
            collection["crs"] = {"type": "name", "properties": {"name": crs}}
        path = tmp_path / f"{name}.geojson"
        path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
        return path

    return write


@pytest.fixture
def ogr2ogr(tmp_path: Path) -> Callable[..., Path]:
    """Convert a file with Debian's ogr2ogr (gdal-bin): to a Shapefile by default."""

    def convert(source: Path, suffix: str = ".shp", *options: str) -> Path:
        driver = {".shp": "ESRI Shapefile", ".geojson": "GeoJSON"}[suffix]
        target_dir = tmp_path / f"{source.stem}-{suffix.strip('.')}"
        target_dir.mkdir(exist_ok=True)
        target = target_dir / f"{source.stem}{suffix}"
        # ENCODING makes the .cpg say UTF-8, so Chinese names survive the DBF.
        layer_options = ["-lco", "ENCODING=UTF-8"] if suffix == ".shp" else []
        subprocess.run(
            ["ogr2ogr", "-f", driver, *layer_options, *options, str(target), str(source)],
            check=True,
            capture_output=True,
        )
        return target

    return convert


@pytest.fixture
def city(db) -> GridCell:
    """The nested test city (district, street, community, one grid cell) and the class 0101."""
    MinorClassFactory()
    return GridCellFactory()
