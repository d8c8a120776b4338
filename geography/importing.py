"""Reading and checking geographic import files (GeoJSON, Shapefile, anything OGR reads).

FeatureReader streams a layer's features and turns each into a Row ready to stage, or a Reject that
says which feature is wrong and why. The writes are geography.services.geography_layer_import.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.gis.gdal import CoordTransform, DataSource, GDALException, OGRGeometry, SpatialReference
from django.contrib.gis.gdal.feature import Feature
from django.contrib.gis.gdal.field import Field, OFTString
from django.contrib.gis.gdal.layer import Layer
from django.contrib.gis.gdal.prototypes import ds as ogr_capi
from django.contrib.gis.geos import GEOSGeometry, Point
from django.contrib.gis.geos.prepared import PreparedGeometry
from django.utils.encoding import force_str
from django.utils.translation import gettext as _

from catalogue.models import ClassKind, MinorClass
from geography.coords import GCJ02, WGS84, gcj02_to_wgs84, geometry_gcj02_to_wgs84
from geography.models import SRID, Community, ComponentStatus, District, Street
from organisations.models import OrgUnit

DISTRICT, STREET, COMMUNITY, GRID, COMPONENT = "district", "street", "community", "grid", "component"

# Qingdao spans about 119.3-121.0 E and 35.3-37.1 N; the box is generous so that only files from
# somewhere else (or in projected metres, or with latitude and longitude swapped) fall outside.
CITY_BBOX = (119.0, 35.0, 121.5, 37.5)
# About 10 m at 36° N: boundaries surveyed by different hands rarely share every vertex exactly.
PARENT_TOLERANCE_DEG = 1e-4

# Survey files often carry the Chinese status words; both those and our values are accepted.
STATUS_WORDS: dict[str, str] = {
    **{s.value: s.value for s in ComponentStatus},
    "完好": ComponentStatus.NORMAL,
    "正常": ComponentStatus.NORMAL,
    "破损": ComponentStatus.DAMAGED,
    "损坏": ComponentStatus.DAMAGED,
    "丢失": ComponentStatus.LOST,
    "缺失": ComponentStatus.LOST,
    "废弃": ComponentStatus.REMOVED,
    "拆除": ComponentStatus.REMOVED,
}

_DIGITS = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class LayerSpec:
    name: str
    code_length: int
    parent: str | None  # the layer whose code is this code's prefix
    is_point: bool = False
    has_name: bool = True


LAYERS: dict[str, LayerSpec] = {
    DISTRICT: LayerSpec(DISTRICT, 6, None),
    STREET: LayerSpec(STREET, 9, DISTRICT),
    COMMUNITY: LayerSpec(COMMUNITY, 12, STREET),
    GRID: LayerSpec(GRID, 14, COMMUNITY, has_name=False),
    COMPONENT: LayerSpec(COMPONENT, 16, DISTRICT, is_point=True),
}


@dataclass(frozen=True)
class FieldNames:
    """Which attribute of the file holds what. None means the default name, and optional if absent."""

    code: str | None = None
    name: str | None = None
    status: str | None = None
    owner_unit: str | None = None
    address: str | None = None
    surveyed_on: str | None = None

    DEFAULTS = {  # a class constant (unannotated, so not a dataclass field)
        "code": "code",
        "name": "name",
        "status": "status",
        "owner_unit": "owner_unit",
        "address": "address",
        "surveyed_on": "surveyed_on",
    }


class SourceError(Exception):
    """The file as a whole cannot be imported (unreadable, wrong SRS, a required field missing)."""


@dataclass(frozen=True)
class Reject:
    index: int
    code: str | None
    reason: str
    feature: dict[str, Any]  # the original feature, as GeoJSON, for the rejects file

    def __str__(self) -> str:
        return _("feature #%(index)s (code %(code)s): %(reason)s") % {
            "index": self.index,
            "code": self.code or "-",
            "reason": self.reason,
        }


class ImportRejected(Exception):
    """Some features are invalid and --skip-invalid was not given: nothing was written."""

    def __init__(self, rejects: list[Reject], read: int) -> None:
        self.rejects = rejects
        self.read = read
        super().__init__(f"{len(rejects)} of {read} features rejected")


@dataclass
class Row:
    """One valid feature, in WGS 84, ready to stage."""

    index: int
    code: str
    name: str = ""
    geom_ewkb: str = ""  # polygons: hex EWKB of a MultiPolygon; points: EWKT
    minor_class_id: int | None = None
    address: str = ""
    status: str = ComponentStatus.NORMAL
    owner_unit_id: int | None = None
    surveyed_on: dt.date | None = None
    district_id: int | None = None


def describe_srs(srs: SpatialReference) -> str:
    """'EPSG:3857 (WGS 84 / Pseudo-Mercator)', or the SRS name when it has no authority code."""
    name = srs.name or "unnamed"
    authority, code = srs.auth_name(None), srs.auth_code(None)
    return f"{authority}:{code} ({name})" if authority and code else name


def _is_wgs84(srs: SpatialReference) -> bool:
    if srs.srid == SRID:
        return True
    # OGC:CRS84 and unlabelled WGS 84 geographic definitions (some .prj files) carry no EPSG code.
    return bool(srs.geographic and srs["DATUM"] in ("WGS_1984", "World Geodetic System 1984"))


def _resolve_transform(layer: Layer, srs: str) -> CoordTransform | None:
    """The transform from the file's SRS to WGS 84, None when none is needed; SourceError if unhandled."""
    declared = layer.srs
    if srs in (WGS84, GCJ02):
        # GCJ-02 files declare themselves WGS 84 (the offset is not a separate CRS in any registry).
        if declared is None or _is_wgs84(declared):
            return None
        raise SourceError(
            _(
                "the file's coordinates are in %(srs)s, not WGS 84 longitude/latitude: reproject it to "
                "EPSG:4326, or pass --srs %(hint)s to transform it on the way in"
            )
            % {"srs": describe_srs(declared), "hint": f"EPSG:{declared.srid}" if declared.srid else "EPSG:<code>"}
        )
    try:
        source = SpatialReference(srs)
    except (GDALException, ValueError, TypeError) as exc:
        raise SourceError(_("--srs %(srs)s is not a coordinate system GDAL knows") % {"srs": srs}) from exc
    if declared is not None and declared.srid and source.srid and declared.srid != source.srid:
        raise SourceError(
            _("the file declares %(declared)s but --srs says %(given)s")
            % {
                "declared": describe_srs(declared),
                "given": describe_srs(source),
            }
        )
    if _is_wgs84(source):
        return None
    return CoordTransform(source, SpatialReference(SRID))


def _plain(value: object) -> object:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _as_code(value: object) -> str:
    """Codes arrive as text, or as numbers when a tool typed the column (adcode 370202, 3.70202e5)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_code(code: str, spec: LayerSpec) -> str | None:
    if not code:
        return _("no code")
    if not _DIGITS.match(code):
        return _("code %(code)r is not all digits") % {"code": code}
    if len(code) != spec.code_length:
        return _("code %(code)s has %(n)s digits; a %(layer)s code has %(m)s") % {
            "code": code,
            "n": len(code),
            "layer": spec.name,
            "m": spec.code_length,
        }
    return None


def _as_date(value: object) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip().replace("/", "-")
    return dt.date.fromisoformat(text[:10])


@dataclass
class _Parents:
    """Parent polygons by code, buffered by the tolerance and prepared lazily on first use."""

    geoms: dict[str, GEOSGeometry]
    ids: dict[str, int]
    _prepared: dict[str, PreparedGeometry] = field(default_factory=dict)

    def covers(self, code: str, geom: GEOSGeometry) -> bool:
        prepared = self._prepared.get(code)
        if prepared is None:
            prepared = self.geoms[code].buffer(PARENT_TOLERANCE_DEG).prepared
            self._prepared[code] = prepared
        return prepared.covers(geom)


def _load_parents(layer: str) -> _Parents:
    model = {DISTRICT: District, STREET: Street, COMMUNITY: Community}[layer]
    rows = model.objects.values_list("code", "id", "geom")
    return _Parents(geoms={c: g for c, _i, g in rows}, ids={c: i for c, i, _g in rows})


class FeatureReader:
    """Iterate over a file's features as Rows and Rejects; file-level problems raise SourceError."""

    def __init__(
        self,
        path: Path,
        *,
        layer: str,
        srs: str = WGS84,
        fields: FieldNames | None = None,
        source_layer: str | None = None,
    ) -> None:
        self.spec = LAYERS[layer]
        self.srs = srs
        try:
            self._ds = DataSource(str(path), encoding="utf-8")
        except GDALException as exc:
            raise SourceError(_("cannot read %(path)s: %(error)s") % {"path": path, "error": exc}) from exc
        self.layer = self._open_layer(source_layer)
        self.transform = _resolve_transform(self.layer, srs)
        self.declared_srs = self.layer.srs
        self._columns = self._resolve_fields(fields or FieldNames())
        types = dict(zip(self.layer.fields, self.layer.field_types, strict=True))
        self._slots = {
            attr: (self.layer.fields.index(column), types[column] is OFTString)
            for attr, column in self._columns.items()
            if column is not None
        }
        self.parents = _load_parents(self.spec.parent) if self.spec.parent else None
        if self.spec.is_point:
            self._load_component_lookups()

    def __len__(self) -> int:
        return len(self.layer)

    def _open_layer(self, source_layer: str | None) -> Layer:
        if source_layer is None:
            if self._ds.layer_count == 0:
                raise SourceError(_("the file has no layers"))
            return self._ds[0]
        try:
            return self._ds[int(source_layer) if source_layer.isdigit() else source_layer]
        except (IndexError, KeyError) as exc:
            names = ", ".join(lyr.name for lyr in self._ds)
            raise SourceError(
                _("no layer %(name)s in the file (layers: %(names)s)") % {"name": source_layer, "names": names}
            ) from exc

    def _resolve_fields(self, names: FieldNames) -> dict[str, str | None]:
        """Map each attribute to the file's column, tolerating case and the DBF 10-character limit."""
        available = self.layer.fields
        wanted = ["code"]
        if self.spec.has_name:
            wanted.append("name")
        if self.spec.is_point:
            wanted += ["status", "owner_unit", "address", "surveyed_on"]
        required = {"code"} | ({"name"} if self.spec.has_name and not self.spec.is_point else set())
        columns: dict[str, str | None] = {}
        for attr in wanted:
            explicit = getattr(names, attr)
            wanted_name = explicit or FieldNames.DEFAULTS[attr]
            found = self._find_column(wanted_name, available)
            if found is None and (explicit or attr in required):
                raise SourceError(
                    _("the file has no field %(field)r (fields: %(fields)s); name it with --%(option)s-field")
                    % {
                        "field": wanted_name,
                        "fields": ", ".join(available) or "-",
                        "option": attr.replace("_", "-").replace("surveyed-on", "surveyed"),
                    }
                )
            columns[attr] = found
        return columns

    @staticmethod
    def _find_column(name: str, available: list[str]) -> str | None:
        if name in available:
            return name
        lowered = {a.lower(): a for a in available}
        return lowered.get(name.lower()) or lowered.get(name.lower()[:10])

    def _load_component_lookups(self) -> None:
        self.minor_classes = {
            f"{major_code}{code}": pk
            for pk, major_code, code in MinorClass.objects.filter(major__kind=ClassKind.COMPONENT).values_list(
                "pk", "major__code", "code"
            )
        }
        self.owner_units = dict(OrgUnit.objects.values_list("code", "pk"))
        assert self.parents is not None
        districts = list(self.parents.geoms.values())
        city = districts[0] if districts else None
        for geom in districts[1:]:
            city = city.union(geom)
        self.city = city.buffer(PARENT_TOLERANCE_DEG).prepared if city is not None else None

    # -- per feature -------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Row | Reject]:
        seen: dict[str, int] = {}
        for index, feature in enumerate(self.layer):
            code = _as_code(self._value(feature, "code"))
            problem = _check_code(code, self.spec)
            if problem is None and code in seen:
                problem = _("duplicate code: feature #%(other)s has it too") % {"other": seen[code]}
            row: Row | None = None
            if problem is None:
                seen[code] = index
                try:
                    read = self._read_point if self.spec.is_point else self._read_polygon
                    row = read(index, code, feature)
                except _Invalid as exc:
                    problem = str(exc)
            if problem is not None:
                yield Reject(index, code or None, problem, self._original(feature))
            else:
                assert row is not None
                yield row

    def _value(self, feature: Feature, attr: str) -> Any:
        slot = self._slots.get(attr)
        if slot is None:
            return None
        index, is_text = slot
        if not is_text:
            return Field(feature, index).value
        # Text is most of what is read: straight to OGR, skipping the per-call Field lookups.
        if not ogr_capi.is_field_set(feature.ptr, index):
            return None
        return force_str(ogr_capi.get_field_as_string(feature.ptr, index), encoding=feature.encoding)

    def _text(self, feature: Feature, attr: str, max_length: int) -> str:
        value = self._value(feature, attr)
        text = "" if value is None else str(value).strip()
        if len(text) > max_length:
            raise _Invalid(
                _("%(field)s is longer than %(n)s characters") % {"field": self._columns[attr], "n": max_length}
            )
        return text

    def _geometry(self, feature: Feature) -> OGRGeometry:
        geom = _feature_geometry(feature)
        if geom is None:
            raise _Invalid(_("no geometry"))
        if geom.is_3d:
            geom.set_3d(False)
        if geom.empty:
            raise _Invalid(_("empty geometry"))
        if self.transform is not None:
            try:
                geom.transform(self.transform)
            except GDALException as exc:
                raise _Invalid(_("cannot transform to WGS 84: %(error)s") % {"error": exc}) from exc
        return geom

    def _read_polygon(self, index: int, code: str, feature: Feature) -> Row:
        name = self._text(feature, "name", 64) if self.spec.has_name else ""
        if self.spec.has_name and not name:
            raise _Invalid(_("no name"))
        ogr = self._geometry(feature)
        if ogr.geom_type.name not in ("Polygon", "MultiPolygon"):
            raise _Invalid(
                _("geometry is a %(type)s; a %(layer)s must be a Polygon or MultiPolygon")
                % {"type": ogr.geom_type.name, "layer": self.spec.name}
            )
        # GEOS from WKB, and the extent from OGR: GEOSGeometry.extent walks every vertex in Python.
        geom = GEOSGeometry(memoryview(ogr.wkb), srid=SRID)
        if self.srs == GCJ02:
            geom = geometry_gcj02_to_wgs84(geom)
            ogr = OGRGeometry(memoryview(geom.wkb))
        extent = ogr.extent
        self._check_lon_lat(extent)
        if not geom.valid:
            raise _Invalid(_("invalid polygon: %(reason)s") % {"reason": geom.valid_reason})
        if self.parents is None:
            self._check_in_bbox(extent)
        else:
            assert self.spec.parent is not None
            self._check_parent(code[: LAYERS[self.spec.parent].code_length], geom)
        # Polygons become MultiPolygons in SQL (ST_Multi), cheaper than in GEOS here.
        return Row(index=index, code=code, name=name, geom_ewkb=geom.hexewkb.decode())

    def _read_point(self, index: int, code: str, feature: Feature) -> Row:
        assert self.parents is not None
        district_code, class_code = code[:6], code[6:10]
        if district_code not in self.parents.ids:
            raise _Invalid(_("district %(code)s does not exist (import districts first)") % {"code": district_code})
        minor_class_id = self.minor_classes.get(class_code)
        if minor_class_id is None:
            raise _Invalid(_("no component class %(code)s (code digits 7-10)") % {"code": class_code})
        ogr = self._geometry(feature)
        if ogr.geom_type.name != "Point":
            raise _Invalid(_("geometry is a %(type)s; a component must be a Point") % {"type": ogr.geom_type.name})
        x, y = ogr.x, ogr.y
        if self.srs == GCJ02:
            x, y = gcj02_to_wgs84(x, y)
        self._check_lon_lat((x, y, x, y))
        if self.city is None or not self.city.covers(Point(x, y, srid=SRID)):
            raise _Invalid(_("point (%(x).6f, %(y).6f) is outside every district of the city") % {"x": x, "y": y})
        raw_status = self._value(feature, "status")
        status_text = "" if raw_status is None else str(raw_status).strip()
        status = STATUS_WORDS.get(status_text) if status_text else ComponentStatus.NORMAL
        if status is None:
            raise _Invalid(
                _("unknown status %(status)r (use one of %(values)s)")
                % {"status": raw_status, "values": ", ".join(STATUS_WORDS)}
            )
        owner_code = _as_code(self._value(feature, "owner_unit"))
        owner_unit_id = None
        if owner_code:
            owner_unit_id = self.owner_units.get(owner_code)
            if owner_unit_id is None:
                raise _Invalid(_("unknown owner unit %(code)s") % {"code": owner_code})
        raw_date = self._value(feature, "surveyed_on")
        try:
            surveyed_on = _as_date(raw_date)
        except ValueError as exc:
            raise _Invalid(_("surveyed_on %(value)r is not a date (YYYY-MM-DD)") % {"value": raw_date}) from exc
        return Row(
            index=index,
            code=code,
            name=self._text(feature, "name", 128),
            address=self._text(feature, "address", 255),
            geom_ewkb=f"SRID={SRID};POINT({x!r} {y!r})",
            minor_class_id=minor_class_id,
            status=status,
            owner_unit_id=owner_unit_id,
            surveyed_on=surveyed_on,
            district_id=self.parents.ids[district_code],
        )

    def _check_lon_lat(self, extent: tuple[float, float, float, float]) -> None:
        xmin, ymin, xmax, ymax = extent
        if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
            raise _Invalid(
                _(
                    "coordinates (%(x).1f, %(y).1f) are not longitude/latitude: is the file in a projected "
                    "SRS it does not declare? Pass --srs EPSG:<code>"
                )
                % {"x": xmin, "y": ymin}
            )

    def _check_in_bbox(self, extent: tuple[float, float, float, float]) -> None:
        xmin, ymin, xmax, ymax = CITY_BBOX
        if not (xmin <= extent[0] and ymin <= extent[1] and extent[2] <= xmax and extent[3] <= ymax):
            raise _Invalid(
                _("outside Qingdao: extent %(extent)s is not within %(bbox)s (longitude, latitude)")
                % {"extent": ", ".join(f"{v:.4f}" for v in extent), "bbox": ", ".join(str(v) for v in CITY_BBOX)}
            )

    def _check_parent(self, parent_code: str, geom: GEOSGeometry) -> None:
        assert self.parents is not None and self.spec.parent is not None
        parent_layer = self.spec.parent
        if parent_code not in self.parents.ids:
            raise _Invalid(
                _("its %(layer)s %(code)s does not exist (import the %(layer)s layer first)")
                % {"layer": parent_layer, "code": parent_code}
            )
        if not self.parents.covers(parent_code, geom):
            outside = geom.difference(self.parents.geoms[parent_code]).area / geom.area if geom.area else 1.0
            raise _Invalid(
                _("not within its %(layer)s %(code)s: %(share).1f%% of its area lies outside")
                % {"layer": parent_layer, "code": parent_code, "share": 100 * outside}
            )

    def _original(self, feature: Feature) -> dict[str, Any]:
        """The feature as the file has it (coordinates untouched), for the rejects file."""
        geom = _feature_geometry(feature)
        geometry = json.loads(geom.json) if geom is not None else None
        properties = {name: _plain(feature.get(name)) for name in self.layer.fields}
        return {"type": "Feature", "properties": properties, "geometry": geometry}


def _feature_geometry(feature: Feature) -> OGRGeometry | None:
    """A copy of the feature's geometry; None for a feature without one (GDAL reports a null pointer)."""
    try:
        return feature.geom
    except GDALException:
        return None


class _Invalid(Exception):
    """Why one feature cannot be imported; becomes a Reject."""

    pass
