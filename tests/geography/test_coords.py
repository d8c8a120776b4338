"""GCJ-02 <-> WGS 84 conversion at the edge (geography/coords.py)."""

from __future__ import annotations

import pytest
from django.contrib.gis.geos import Polygon

from geography.coords import gcj02_to_wgs84, geometry_gcj02_to_wgs84, to_wgs84, wgs84_to_gcj02

# The reference pair published with the widely used coordtransform library (wandergis/coordtransform).
REFERENCE_WGS84 = (116.404, 39.915)
REFERENCE_GCJ02 = (116.41024449916938, 39.91640428150164)

QINGDAO_POINTS = [(120.3826, 36.0671), (120.0, 35.9), (120.9, 36.9), (119.5, 35.5), (120.4556, 36.3099)]


def test_wgs84_to_gcj02_matches_the_published_reference_pair() -> None:
    lon, lat = wgs84_to_gcj02(*REFERENCE_WGS84)
    assert lon == pytest.approx(REFERENCE_GCJ02[0], abs=1e-9)
    assert lat == pytest.approx(REFERENCE_GCJ02[1], abs=1e-9)


def test_gcj02_to_wgs84_inverts_the_reference_pair() -> None:
    lon, lat = gcj02_to_wgs84(*REFERENCE_GCJ02)
    assert lon == pytest.approx(REFERENCE_WGS84[0], abs=1e-6)
    assert lat == pytest.approx(REFERENCE_WGS84[1], abs=1e-6)


@pytest.mark.parametrize("wgs", QINGDAO_POINTS)
def test_a_round_trip_through_gcj02_returns_within_a_micro_degree(wgs: tuple[float, float]) -> None:
    back = gcj02_to_wgs84(*wgs84_to_gcj02(*wgs))
    assert abs(back[0] - wgs[0]) < 1e-6
    assert abs(back[1] - wgs[1]) < 1e-6


def test_the_offset_in_qingdao_is_a_few_hundred_metres() -> None:
    lon, lat = wgs84_to_gcj02(120.3826, 36.0671)
    # At 36° N a degree of longitude is ~90 km and of latitude ~111 km.
    shift_m = (((lon - 120.3826) * 90_000) ** 2 + ((lat - 36.0671) * 111_000) ** 2) ** 0.5
    assert 100 < shift_m < 1000


@pytest.mark.parametrize("outside", [(2.3522, 48.8566), (-74.006, 40.7128), (151.2093, -33.8688)])
def test_points_outside_china_are_unchanged(outside: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*outside) == outside
    assert gcj02_to_wgs84(*outside) == outside
    assert to_wgs84(*outside, "gcj02") == outside


def test_a_geometry_has_every_vertex_converted() -> None:
    gcj = Polygon(((120.30, 36.04), (120.31, 36.04), (120.31, 36.05), (120.30, 36.04)), srid=4326)
    wgs = geometry_gcj02_to_wgs84(gcj)
    assert wgs.srid == 4326
    for (x, y), (gx, gy) in zip(wgs.coords[0], gcj.coords[0], strict=True):
        assert (x, y) == pytest.approx(gcj02_to_wgs84(gx, gy), abs=1e-12)


def test_to_wgs84_refuses_an_unknown_system() -> None:
    with pytest.raises(ValueError, match="bd09"):
        to_wgs84(120.0, 36.0, "bd09")
