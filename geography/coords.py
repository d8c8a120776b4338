"""Coordinate systems at the edge: GCJ-02 (Chinese web maps) to and from WGS 84 (what we store).

GCJ-02 is WGS 84 with a published, deterministic obfuscation offset of a few hundred metres
inside mainland China. The forward transform is the well-known public formula; the inverse has
no closed form and is found by fixed-point iteration to well under a centimetre.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from django.contrib.gis.geos import GEOSGeometry

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 formula uses
_EE = 0.00669342162296594323  # its first eccentricity squared

WGS84 = "wgs84"
GCJ02 = "gcj02"
SUPPORTED_SRS = (WGS84, GCJ02)


def out_of_china(lon: float, lat: float) -> bool:
    """Outside this rough box, GCJ-02 equals WGS 84."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    if out_of_china(lon, lat):
        return lon, lat
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(
    lon: float, lat: float, *, tolerance_deg: float = 1e-9, max_iterations: int = 30
) -> tuple[float, float]:
    """Invert wgs84_to_gcj02 by iteration (1e-9° is about 0.1 mm)."""
    if out_of_china(lon, lat):
        return lon, lat
    guess_lon, guess_lat = lon, lat
    for _ in range(max_iterations):
        fwd_lon, fwd_lat = wgs84_to_gcj02(guess_lon, guess_lat)
        dlon, dlat = fwd_lon - lon, fwd_lat - lat
        guess_lon, guess_lat = guess_lon - dlon, guess_lat - dlat
        if abs(dlon) < tolerance_deg and abs(dlat) < tolerance_deg:
            break
    return guess_lon, guess_lat


def _map_coords(coords: object, fn: Callable[[float, float], tuple[float, float]]) -> object:
    if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
        lon, lat = fn(float(coords[0]), float(coords[1]))
        return (lon, lat, *coords[2:])
    assert isinstance(coords, Iterable)
    return [_map_coords(c, fn) for c in coords]


def geometry_gcj02_to_wgs84(geom: GEOSGeometry) -> GEOSGeometry:
    """A copy of `geom` (SRID 4326, in GCJ-02 numbers) with every vertex moved to WGS 84."""
    import json

    data = json.loads(geom.json)
    data["coordinates"] = _map_coords(data["coordinates"], gcj02_to_wgs84)
    converted = GEOSGeometry(json.dumps(data), srid=4326)
    return converted


def to_wgs84(lon: float, lat: float, srs: str) -> tuple[float, float]:
    """Convert a point given in `srs` ('wgs84' or 'gcj02') to WGS 84."""
    if srs == WGS84:
        return lon, lat
    if srs == GCJ02:
        return gcj02_to_wgs84(lon, lat)
    raise ValueError(f"unknown coordinate system {srs!r}; use one of {', '.join(SUPPORTED_SRS)}")
