"""Reads on cases, scoped by the caller's units (organisations.selectors.scope_for), and the spatial
look-ups intake needs: duplicates, the component a report is about, the routing rule for a case.

A staff member sees the cases located in the divisions their units cover, and the cases their
units (or the units below them) lead or support. Anything else is a 404.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.contrib.gis.db.models import PointField
from django.contrib.gis.geos import Point, Polygon
from django.db import connection, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, Exists, F, FloatField, Func, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Least, NullIf
from django.db.models.sql import Query
from django.shortcuts import get_object_or_404

from cases import prepared
from cases.models import FINAL_STATUSES, Case, CaseEvent, CaseSupportingUnit, RoutingRule
from catalogue.models import MinorClass
from geography.models import Component
from organisations.models import OrgUnit
from organisations.selectors import Scope, _located_q, scope_for

# A case fetched for a transition carries its supporting units' ids under this name (cases.services.core.lock_case).
SUPPORT_IDS_ATTR = "support_unit_ids"

# A report about a component without its code is linked to the nearest one of its class this close.
COMPONENT_LINK_RADIUS_M = 5


class RowReader:
    """Model instances from hand-written SQL on the hot write paths: the model's columns in field order, turned
    into values by the ORM's own converters (geometry, JSON). Compiling an ORM query for a wide model costs a few
    milliseconds of Python each time; this is built once per model and database."""

    _readers: dict[tuple[type[models.Model], str], RowReader] = {}

    def __init__(self, model: type[models.Model], db: BaseDatabaseWrapper) -> None:
        fields = model._meta.concrete_fields
        compiler = db.ops.compiler("SQLCompiler")(Query(model), db, db.alias)
        self.model = model
        self.width = len(fields)
        self.attnames = [field.attname for field in fields]
        self.converters = list(compiler.get_converters([f.get_col(model._meta.db_table) for f in fields]).items())
        self.quoted = [db.ops.quote_name(field.column) for field in fields]

    @classmethod
    def of(cls, model: type[models.Model], db: BaseDatabaseWrapper) -> RowReader:
        reader = cls._readers.get((model, db.alias))
        if reader is None:
            reader = cls._readers[(model, db.alias)] = cls(model, db)
        return reader

    def columns(self, table: str) -> str:
        """The select list for this model's row under `table` (a table name or alias)."""
        return ", ".join(f"{table}.{column}" for column in self.quoted)

    def build(self, row: tuple[Any, ...] | list[Any], db: BaseDatabaseWrapper, start: int = 0) -> Any:
        """The instance from row[start:start + width], as the ORM would have loaded it."""
        values = list(row[start : start + self.width])
        for position, (converters, expression) in self.converters:
            value = values[position]
            for converter in converters:
                value = converter(value, expression, db)
            values[position] = value
        return self.model.from_db(db.alias, self.attnames, values)


def _scope_q(scope: Scope) -> Q:
    located = _located_q(scope)
    if not scope.unit_ids:
        return located
    supported = CaseSupportingUnit.objects.filter(case=OuterRef("pk"), unit_id__in=scope.unit_ids)
    return located | Q(lead_unit_id__in=scope.unit_ids) | Q(Exists(supported))


def cases_visible_to(user: Any) -> QuerySet[Case]:
    """The cases `user` may see (none for citizens and devices: their own reports have their own reads)."""
    scope = scope_for(user)
    if scope.city_wide:
        return Case.objects.all()
    if scope.is_empty:
        return Case.objects.none()
    return Case.objects.filter(_scope_q(scope))


def case_is_visible_to(user: Any, case: Case) -> bool:
    """The same rule as cases_visible_to for one case in hand (a query only for supporting units)."""
    scope = scope_for(user)
    if scope.city_wide:
        return True
    if scope.is_empty:
        return False
    if (
        case.district_id in scope.district_ids
        or case.street_id in scope.street_ids
        or case.community_id in scope.community_ids
        or case.lead_unit_id in scope.unit_ids
    ):
        return True
    if not scope.unit_ids:
        return False
    support = getattr(case, SUPPORT_IDS_ATTR, None)
    if support is not None:
        return not scope.unit_ids.isdisjoint(support)
    return case.support_links.filter(unit_id__in=scope.unit_ids).exists()


def case_get_for_user_or_404(user: Any, pk: Any) -> Case:
    return get_object_or_404(cases_visible_to(user).select_related("minor_class__major"), pk=pk)


def case_get_by_number_for_user_or_404(user: Any, number: str) -> Case:
    return get_object_or_404(cases_visible_to(user).select_related("minor_class__major"), number=number)


def case_events(case: Case) -> QuerySet[CaseEvent]:
    """A case's timeline, oldest first, with who did what."""
    return case.events.select_related("actor", "unit").order_by("seq")


def cases_reported_by(user: Any) -> QuerySet[Case]:
    """A citizen's (or anyone's) own reports."""
    if user is None or not user.is_authenticated:
        return Case.objects.none()
    return Case.objects.filter(reporter=user)


# --- spatial look-ups for intake

_NEAREST_OPEN_CASE_SQL = """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g)
SELECT c.id
FROM cases_case c, p
WHERE c.minor_class_id = %(minor_class)s
  AND c.status <> ALL(%(final)s)
  AND c.id <> %(exclude)s
  AND c.location && ST_Expand(p.g, %(degrees)s)
  AND ST_DWithin(c.location::geography, p.g::geography, %(radius)s)
ORDER BY ST_Distance(c.location::geography, p.g::geography), c.reported_at, c.id
LIMIT 1
"""

_NEAREST_COMPONENT_SQL = """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g)
SELECT c.id
FROM geography_component c, p
WHERE c.minor_class_id = %(minor_class)s
  AND c.location && ST_Expand(p.g, %(degrees)s)
  AND ST_DWithin(c.location::geography, p.g::geography, %(radius)s)
ORDER BY ST_Distance(c.location::geography, p.g::geography), c.id
LIMIT 1
"""


def _degrees_covering(radius_m: float, lat: float) -> float:
    # A box at least `radius_m` wide in both directions, so the GiST index narrows before the exact test.
    return radius_m / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))


def _nearest_id(sql: str, *, point: Point, minor_class_id: int, radius_m: float, **extra: Any) -> int | None:
    params = {
        "lon": point.x,
        "lat": point.y,
        "minor_class": minor_class_id,
        "radius": float(radius_m),
        "degrees": _degrees_covering(radius_m, point.y),
        **extra,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def duplicate_candidate_for(*, minor_class: MinorClass, location: Point, exclude_id: int | None = None) -> Case | None:
    """The nearest open case of the same minor class within the class's duplicate radius (0: no check)."""
    radius = minor_class.duplicate_radius_m
    if not radius:
        return None
    found = _nearest_id(
        _NEAREST_OPEN_CASE_SQL,
        point=location,
        minor_class_id=minor_class.pk,
        radius_m=radius,
        final=list(FINAL_STATUSES),
        exclude=exclude_id or 0,
    )
    return Case.objects.get(pk=found) if found else None


# The open cases near a point a reporter is about to report (the mobile report form's "already reported?"): within
# the class's duplicate radius, or this when the class checks none; never beyond the maximum.
NEARBY_DEFAULT_RADIUS_M = 50
NEARBY_MAX_RADIUS_M = 500


class _MetresBetween(Func):
    """The distance in metres between two WGS 84 geometries, on the spheroid (as intake's duplicate check measures)."""

    template = "ST_Distance((%(expressions)s)::geography)"
    arg_joiner = ")::geography, ("
    output_field = FloatField()


def open_cases_near(
    user: Any,
    *,
    point: Point,
    minor_class: MinorClass | None = None,
    kind: str | None = None,
    radius_m: float | None = None,
    limit: int = 5,
) -> list[Case]:
    """The open cases `user` may see nearest to `point` (WGS 84), nearest first, each with `distance_m` (metres).

    Of `minor_class` within its duplicate radius, or of any class (of `kind`, if given) each within its own class's
    radius; `radius_m` replaces the class's. Radii are capped at NEARBY_MAX_RADIUS_M. One query, scoped as
    cases_visible_to; the bounding box lets the spatial index narrow before the exact distance.
    """
    if radius_m is not None:
        radius: Any = Value(float(min(radius_m, NEARBY_MAX_RADIUS_M)))
        widest = float(min(radius_m, NEARBY_MAX_RADIUS_M))
    elif minor_class is not None:
        widest = float(min(minor_class.duplicate_radius_m or NEARBY_DEFAULT_RADIUS_M, NEARBY_MAX_RADIUS_M))
        radius = Value(widest)
    else:
        own = Coalesce(NullIf(F("minor_class__duplicate_radius_m"), 0), NEARBY_DEFAULT_RADIUS_M)
        radius = Least(own, NEARBY_MAX_RADIUS_M, output_field=FloatField())
        widest = float(NEARBY_MAX_RADIUS_M)
    degrees = _degrees_covering(widest, point.y)
    box = Polygon.from_bbox((point.x - degrees, point.y - degrees, point.x + degrees, point.y + degrees))
    box.srid = 4326
    distance = _MetresBetween(F("location"), Value(Point(point.x, point.y, srid=4326), output_field=PointField()))
    cases = cases_visible_to(user).exclude(status__in=FINAL_STATUSES).filter(location__bboverlaps=box)
    if minor_class is not None:
        cases = cases.filter(minor_class=minor_class)
    elif kind is not None:
        cases = cases.filter(kind=kind)
    return list(
        cases.select_related("minor_class__major")
        .only(
            "id",
            "number",
            "status",
            "description",
            "reported_at",
            "location",
            "minor_class__code",
            "minor_class__name",
            "minor_class__duplicate_radius_m",
            "minor_class__major__code",
        )
        .annotate(distance_m=distance, radius_m=radius)
        .filter(distance_m__lte=F("radius_m"))
        .order_by("distance_m", "reported_at", "id")[:limit]
    )


def minor_class_counts_for(user: Any, *, since: dt.datetime, limit: int) -> list[tuple[int, int]]:
    """(minor class id, cases) of the active classes most reported since `since` among the cases `user` may see,
    most first, then by code (a component class before the event class of the same code): the classes a reporter
    in this area is most likely to pick."""
    rows = (
        cases_visible_to(user)
        .filter(reported_at__gte=since, minor_class__is_active=True)
        .values("minor_class_id")
        .annotate(n=Count("id"))
        .order_by("-n", "minor_class__major__code", "minor_class__code", "minor_class__major__kind")
        .values_list("minor_class_id", "n")[:limit]
    )
    return list(rows)


def nearest_component_for(*, minor_class: MinorClass, location: Point) -> Component | None:
    """The surveyed component of `minor_class` nearest to `location`, within COMPONENT_LINK_RADIUS_M."""
    found = _nearest_id(
        _NEAREST_COMPONENT_SQL, point=location, minor_class_id=minor_class.pk, radius_m=COMPONENT_LINK_RADIUS_M
    )
    return Component.objects.get(pk=found) if found else None


# --- routing


# The ranking of RoutingRule's docstring in SQL (a minor class beats its major class; a street beats a district
# beats the city; then priority; the oldest rule last), with the lead unit's row and whether the rule has
# supporting units, in one statement.
_ROUTING_SQL = """
SELECT {rule}, {unit}, EXISTS(SELECT 1 FROM cases_routingrule_supporting_units s WHERE s.routingrule_id = r.id)
FROM cases_routingrule r
JOIN organisations_orgunit u ON u.id = r.lead_unit_id
WHERE r.is_active AND u.is_active
  AND (r.minor_class_id = %(minor)s OR r.major_class_id = %(major)s)
  AND ((r.district_id IS NULL AND r.street_id IS NULL)
       OR (r.district_id = %(district)s AND r.street_id IS NULL)
       OR r.street_id = %(street)s)
ORDER BY r.minor_class_id IS NOT NULL DESC,
         CASE WHEN r.street_id IS NOT NULL THEN 2 WHEN r.district_id IS NOT NULL THEN 1 ELSE 0 END DESC,
         r.priority DESC, r.id
LIMIT 1
"""


def routing_rule_for(*, minor_class: MinorClass, district_id: int | None, street_id: int | None) -> RoutingRule | None:
    """The most specific active rule for a class in an area (see RoutingRule), or None; its lead unit loaded
    with it, and its supporting units too when it has none (no query for `supporting_units.all()` then)."""
    rules, units = RowReader.of(RoutingRule, connection), RowReader.of(OrgUnit, connection)
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            _ROUTING_SQL.format(rule=rules.columns("r"), unit=units.columns("u")),
            {"minor": minor_class.pk, "major": minor_class.major_id, "district": district_id, "street": street_id},
        )
        row = cursor.fetchone()
    if row is None:
        return None
    rule = rules.build(row, connection)
    RoutingRule.lead_unit.field.set_cached_value(rule, units.build(row, connection, start=rules.width))
    if not row[-1]:
        rule._prefetched_objects_cache = {"supporting_units": OrgUnit.objects.none()}
    return rule


def routing_rules_list() -> QuerySet[RoutingRule]:
    """The routing table, for the read-only API and the admin."""
    return RoutingRule.objects.select_related(
        "minor_class__major", "major_class", "district", "street", "lead_unit"
    ).prefetch_related("supporting_units")
